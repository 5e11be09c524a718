"""Every console page on both store backends, with a secret of every kind configured:
each page answers, shows what the store holds, and never shows a secret."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import respx

from tests.console_api.conftest import HOOK_URL, ConsoleFactory, console, leaked, redis_server
from tests.helpers.webhooks import alert, webhook

__all__ = ["console", "redis_server"]  # the fixtures, shared with tests/console_api

PAGES = [
    "/ui/",
    "/ui/notifications",
    "/ui/notifications?status=dead",
    "/ui/groups",
    "/ui/playground",
    "/ui/routes?labels=team%3Ddb",
    "/ui/config",
]


async def test_every_page_answers_on_both_backends_without_a_secret(console: ConsoleFactory) -> None:
    async with console() as relay:
        with respx.mock(assert_all_called=False) as mock:
            mock.post(HOOK_URL).mock(return_value=httpx.Response(400, text=f"refused {HOOK_URL}"))
            mock.post(url__startswith="https://qyapi.weixin.qq.com/").mock(
                return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
            )
            mock.post(url__startswith="https://hooks.slack.com/").mock(
                return_value=httpx.Response(200, text="ok")
            )
            for name, team in (("DiskFull", "infra"), ("SlowQuery", "db")):
                answer = await relay.post(
                    webhook(alert(name, team=team), group_key=f'{{}}:{{alertname="{name}"}}')
                )
                assert answer.status_code == 200, answer.text
            await relay.deliver_all()
        jobs = await relay.jobs()
        assert {"dead", "delivered"} <= {j.status for j in jobs}
        detail = [f"/ui/notifications/{j.id}" for j in jobs]
        groups = [f"/ui/group?key={quote(j.group_key, safe='')}" for j in jobs]
        for path in [*PAGES, *detail, *groups]:
            page = await relay.client.get(path)
            assert page.status_code == 200, (path, page.text[:300])
            assert leaked(page) == [], path
        listing = (await relay.client.get("/ui/notifications")).text
        assert "DiskFull" in listing and "SlowQuery" in listing
        dead = next(j for j in jobs if j.status == "dead")
        page = (await relay.client.get(f"/ui/notifications/{dead.id}")).text
        assert "refused" in page and 'id="retry"' in page
