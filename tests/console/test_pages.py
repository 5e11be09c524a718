"""The console's pages in-process: sign-in, CSRF, read-only, escaping, secrets, headers,
language, and each page's answer to bad input (relay/web/console/pages*.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx

from relay.core.schedules import on_call
from relay.pipeline.ratelimit import LimiterRegistry
from relay.web.console.openapi import openapi_document
from relay.web.console.pages_actions import safe_next
from relay.web.console.pages_views import parse_labels
from relay.web.console.security import HEADERS
from tests.conftest import Relay
from tests.helpers.webhooks import alert, webhook

TOKEN = "pages-test-token-0b7e"
HMAC = "hmac-secret-pages-91c2"
WECOM_KEY = "wecom-key-pages-44aa"
# Shown on the config page only: the tests' store is SQLite, handed in.
REDIS_PASSWORD = "redis-pass-pages-5d1f"
CONFIG = f"""
global: {{locale: en, timezone: Asia/Shanghai}}
storage: {{url: "redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"}}
server:
  auth: {{bearer_token: {TOKEN}}}
  ui: {{read_only: READ_ONLY}}
delivery: {{retry_for: 1s}}
route:
  receiver: hooks
  routes:
    - matchers: ['team="chat"']
      receiver: chat
receivers:
  - name: hooks
    webhook_configs: [{{url: "http://hooks.test/alerts", hmac_secret: {HMAC}}}]
  - name: chat
    wecom_configs: [{{key: {WECOM_KEY}}}]
people:
  - {{name: zhangsan, display_name: 张三}}
  - {{name: lisi, display_name: 李四}}
schedules:
  - name: sre
    time_zone: Asia/Shanghai
    rotations: [{{people: [zhangsan, lisi], start: "2020-01-06T10:00:00", shift: 1w}}]
"""
SECRETS = [TOKEN, HMAC, WECOM_KEY, REDIS_PASSWORD]
NASTY = {"note": "<script>alert(1)</script>", "evil": '"><img src=x onerror=alert(2)>', "tpl": "{{ 7*7 }}"}
PAGES = [
    "/ui/",
    "/ui/notifications",
    "/ui/groups",
    "/ui/playground",
    "/ui/routes",
    "/ui/config",
    "/ui/routes?labels=team%3Dchat",
]


@pytest.fixture
def console(
    relay_factory: Callable[..., AbstractAsyncContextManager[Relay]],
) -> Callable[..., AbstractAsyncContextManager[Relay]]:
    @asynccontextmanager
    async def started(read_only: bool = False) -> AsyncIterator[Relay]:
        async with relay_factory(CONFIG.replace("READ_ONLY", str(read_only).lower())) as relay:
            yield relay

    return started


async def sign_in(relay: Relay, name: str = "Ada") -> None:
    answer = await relay.client.post(
        "/ui/login", data={"username": name, "secret": TOKEN, "next": "/ui/groups"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/groups"
    assert "relay_session" in relay.client.cookies


async def csrf_of(relay: Relay, path: str) -> str:
    page = await relay.client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def dead_job(relay: Relay, name: str = "Broken", **labels: str) -> str:
    """A notification the downstream refused for good (HTTP 400): dead at once."""
    with respx.mock(assert_all_called=False) as mock:
        mock.post("http://hooks.test/alerts").mock(return_value=httpx.Response(400, text="no <b>way</b>"))
        await relay.post(
            webhook(alert(name, **labels), group_key=f'{{}}:{{alertname="{name}"}}'),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        await relay.deliver_all()
    dead = [j for j in await relay.jobs() if j.status == "dead"]
    assert dead
    return dead[-1].id


async def test_a_browser_without_a_session_is_sent_to_the_login_form(console: Any) -> None:
    async with console() as relay:
        answer = await relay.client.get("/ui/notifications?status=dead")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fnotifications%3Fstatus%3Ddead"
        form = await relay.client.get(answer.headers["location"])
        assert form.status_code == 200 and 'type="password"' in form.text
        assert (await relay.client.post("/ui/notifications/x/retry", data={})).status_code == 401


async def test_an_expired_session_sends_the_overview_poll_to_the_login_form(console: Any) -> None:
    async with console() as relay:
        poll = await relay.client.get("/ui/", headers={"HX-Request": "true"})
        assert poll.status_code == 401
        assert poll.headers["HX-Redirect"] == "/ui/login?next=%2Fui%2F"


async def test_a_wrong_token_is_refused_and_a_right_one_signs_in(console: Any) -> None:
    async with console() as relay:
        wrong = await relay.client.post("/ui/login", data={"username": "Ada", "secret": "nope"})
        assert wrong.status_code == 401 and "Wrong credentials" in wrong.text
        assert "relay_session" not in relay.client.cookies
        await sign_in(relay)
        secure = next(c for c in relay.client.cookies.jar if c.name == "relay_session")
        assert not secure.secure  # plain HTTP: a Secure cookie would never come back
        cookie = next(c for c in relay.client.cookies.jar if c.name == "relay_session")
        assert cookie.path == "/ui" and cookie.has_nonstandard_attr("HttpOnly")
        page = await relay.client.get("/ui/")
        assert page.status_code == 200 and "Signed in as session:Ada" in page.text


async def test_an_api_clients_bearer_header_opens_the_pages_too(console: Any) -> None:
    async with console() as relay:
        page = await relay.client.get("/ui/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert page.status_code == 200


async def test_over_https_the_session_cookie_is_secure(console: Any) -> None:
    async with console() as relay:
        relay.client.base_url = httpx.URL("https://relay")
        await sign_in(relay)
        cookie = next(c for c in relay.client.cookies.jar if c.name == "relay_session")
        assert cookie.secure


def test_after_signing_in_a_browser_only_goes_to_console_pages() -> None:
    assert safe_next("/ui/notifications?status=dead") == "/ui/notifications?status=dead"
    for outside in (
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "/api/v1/config",
        "/ui\\..\\x",
        "javascript:alert(1)",
    ):
        assert safe_next(outside) == "/ui/"


async def test_retry_from_the_page_needs_the_csrf_token_and_records_who(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        job_id = await dead_job(relay)
        path = f"/ui/notifications/{job_id}"
        token = await csrf_of(relay, path)
        refused = await relay.client.post(f"{path}/retry", data={"other": "field"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        forged = await relay.client.post(f"{path}/retry", data={"csrf": token[::-1]})
        assert forged.status_code == 403
        done = await relay.client.post(f"{path}/retry", data={"csrf": token})
        assert done.status_code == 303 and done.headers["location"] == f"{path}?done=retried"
        page = await relay.client.get(done.headers["location"])
        assert "Queued again" in page.text
        assert "retry by session:Ada" in re.sub(r"\s+", " ", page.text)
        assert (await relay.jobs())[-1].status == "pending"


async def test_a_form_post_that_is_not_a_form_is_refused(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        job_id = await dead_job(relay)
        answer = await relay.client.post(f"/ui/notifications/{job_id}/retry", json={"csrf": "x"})
        assert answer.status_code == 415


async def test_a_read_only_console_disables_actions_and_refuses_them(console: Any) -> None:
    async with console(read_only=True) as relay:
        await sign_in(relay)
        job_id = await dead_job(relay)
        path = f"/ui/notifications/{job_id}"
        page = await relay.client.get(path)
        assert re.search(r'<button[^>]*id="retry"[^>]*disabled', page.text)
        assert "read-only" in page.text
        token = await csrf_of(relay, path)
        answer = await relay.client.post(f"{path}/retry", data={"csrf": token})
        assert answer.status_code == 403
        assert (await relay.jobs())[-1].status == "dead"
        playground = await relay.client.get("/ui/playground")
        assert re.search(r'<button[^>]*id="send-test"[^>]*disabled', playground.text)
        sent = await relay.client.post(
            "/ui/playground/send",
            data={"csrf": token, "target": "integration:chat/wecom/0", "source": "sample"},
        )
        assert sent.status_code == 403


async def test_labels_annotations_and_downstream_errors_are_escaped(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        job_id = await dead_job(relay, "Escaped", **NASTY)
        group_key = next(j.group_key for j in await relay.jobs() if j.id == job_id)
        pages = [
            f"/ui/notifications/{job_id}",
            "/ui/notifications",
            "/ui/groups",
            f"/ui/group?key={httpx.QueryParams({'k': group_key})['k']}",
        ]
        for path in pages:
            html = (await relay.client.get(path, params=None)).text
            assert "<script>alert(1)" not in html and "<img src=x" not in html, path
            assert "<b>way</b>" not in html, path
        detail = (await relay.client.get(pages[0])).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
        assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in detail
        assert "{{ 7*7 }}" in detail and ">49<" not in detail
        assert "no &lt;b&gt;way&lt;/b&gt;" in detail


async def test_no_page_shows_a_configured_secret(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        job_id = await dead_job(relay)
        token = await csrf_of(relay, "/ui/playground")
        answers = [await relay.client.get(path) for path in [*PAGES, f"/ui/notifications/{job_id}"]]
        for target in ("integration:hooks/webhook/0", "integration:chat/wecom/0"):
            answers.append(
                await relay.client.post(
                    "/ui/playground", data={"csrf": token, "target": target, "source": "sample"}
                )
            )
        for answer in answers:
            assert answer.status_code == 200, (answer.url, answer.text[:300])
            for secret in SECRETS:
                assert secret not in answer.text, (answer.url, secret)
        assert "&lt;secret&gt;" in (await relay.client.get("/ui/config")).text


async def test_every_answer_carries_the_security_headers(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        for path in ["/", "/ui/", "/ui/login", "/ui/static/console.css", "/ui/nope"]:
            answer = await relay.client.get(path)
            for name, value in HEADERS.items():
                assert answer.headers.get(name) == value, (path, name)
        assert "'unsafe-inline'" not in HEADERS["Content-Security-Policy"]
        assert "default-src 'self'" in HEADERS["Content-Security-Policy"]


async def test_the_language_follows_the_config_then_lang_then_the_cookie(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        english = await relay.client.get("/ui/")
        assert '<html lang="en">' in english.text and "Overview" in english.text
        chinese = await relay.client.get("/ui/?lang=zh-CN")
        assert '<html lang="zh-CN">' in chinese.text and "总览" in chinese.text
        assert (await relay.client.get("/ui/routes")).text.count("路由") >= 1  # remembered
        assert 'href="/ui/routes?lang=en"' in (await relay.client.get("/ui/routes")).text


async def test_the_playground_shows_the_counter_and_a_bad_payloads_place(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        token = await csrf_of(relay, "/ui/playground")
        rendered = await relay.client.post(
            "/ui/playground",
            data={"csrf": token, "target": "integration:chat/wecom/0", "locale": "zh-CN", "source": "sample"},
        )
        assert rendered.status_code == 200
        assert re.search(r"\d+ / 4096 content bytes", rendered.text)
        broken = await relay.client.post(
            "/ui/playground",
            data={"csrf": token, "target": "channel:wecom", "source": "paste", "payload": '{"version": '},
        )
        assert broken.status_code == 400 and "payload:1:13: invalid JSON" in broken.text
        not_a_webhook = await relay.client.post(
            "/ui/playground",
            data={"csrf": token, "target": "channel:wecom", "source": "paste", "payload": '{"version": "3"}'},
        )
        assert not_a_webhook.status_code == 400 and "version" in not_a_webhook.text


async def test_bad_filters_and_unknown_ids_get_pages_not_tracebacks(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        bad = await relay.client.get("/ui/notifications?since=yesterday")
        assert bad.status_code == 400 and "since" in bad.text and "Traceback" not in bad.text
        missing = await relay.client.get("/ui/notifications/0123456789abcdef")
        assert missing.status_code == 404 and "<html" in missing.text
        assert (await relay.client.get("/ui/group?key=nope")).status_code == 404
        routes = await relay.client.get("/ui/routes?labels=not+a+label")
        assert routes.status_code == 400 and "expected name=value" in routes.text


async def test_a_local_time_filter_is_read_in_relays_time_zone(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        await dead_job(relay)  # created at the fake clock's 2027-01-15T08:00:00Z
        before = await relay.client.get("/ui/notifications?until=2027-01-15T15:59:59")
        after = await relay.client.get("/ui/notifications?until=2027-01-15T16:00:01")
        assert "Broken" not in before.text  # 15:59:59 in Shanghai is 07:59:59 UTC
        assert "Broken" in after.text


def test_route_tester_labels_are_one_name_value_per_line() -> None:
    assert parse_labels('alertname=Disk\n severity = "critical"\n\nteam=a,b') == {
        "alertname": "Disk",
        "severity": "critical",
        "team": "a,b",
    }
    with pytest.raises(ValueError, match="line 2: expected name=value"):
        parse_labels("a=b\n1x=2")


async def test_send_test_sends_once_through_the_chosen_integration(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        token = await csrf_of(relay, "/ui/playground")
        with respx.mock(assert_all_called=False) as mock:
            wecom = mock.post(url__startswith="https://qyapi.weixin.qq.com/").mock(
                return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
            )
            rendered = await relay.client.post(
                "/ui/playground",
                data={"csrf": token, "target": "integration:chat/wecom/0", "source": "sample"},
            )
            assert rendered.status_code == 200 and wecom.call_count == 0  # rendering sends nothing
            sent = await relay.client.post(
                "/ui/playground/send",
                data={"csrf": token, "target": "integration:chat/wecom/0", "source": "sample"},
            )
        assert sent.status_code == 200, sent.text[:500]
        assert wecom.call_count == 1
        assert "Test sent through chat/wecom/0: ok" in sent.text
        refused = await relay.client.post(
            "/ui/playground/send", data={"csrf": token, "target": "channel:wecom", "source": "sample"}
        )
        assert refused.status_code == 400 and "Pick an integration" in refused.text


async def test_a_notification_without_a_kept_copy_renders_in_the_playground(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        job_id = await dead_job(relay, "RenderMe")
        page = (await relay.client.get(f"/ui/notifications/{job_id}")).text
        assert f'href="/ui/playground?job={job_id}"' in page
        playground = await relay.client.get(f"/ui/playground?job={job_id}")
        assert playground.status_code == 200
        assert 'value="integration:hooks/webhook/0" selected' in playground.text
        assert "RenderMe" in playground.text.split('id="result"')[1]  # rendered, not only pasted
        assert (await relay.client.get("/ui/playground?job=nope")).status_code == 404


async def test_a_storm_merged_notification_links_its_digest_and_the_digest_its_members(
    console: Any,
) -> None:
    """45 groups for a WeCom robot that takes 20 a minute (40 within the storm window):
    the dispatcher merges them into a storm digest; each merged notification's page (and
    API answer) says it went out as part of that digest, and the digest's page lists
    what it merged."""
    async with console() as relay:
        await sign_in(relay)
        for i in range(45):
            relay.clock.advance(1)
            await relay.post(
                webhook(alert(f"Storm{i:02d}", team="chat"), group_key=f'{{}}:{{alertname="Storm{i:02d}"}}'),
                headers={"Authorization": f"Bearer {TOKEN}"},
            )

        async def sleep(seconds: float) -> None:
            relay.clock.advance(seconds)  # the rate limit waits on the fake clock
            await asyncio.sleep(0)

        relay.state.dispatcher.limiters = LimiterRegistry(monotonic=relay.clock.now, sleep=sleep)
        with respx.mock(assert_all_called=False) as mock:
            robot = mock.post(url__startswith="https://qyapi.weixin.qq.com/").mock(
                return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
            )
            for _ in range(3):  # merge, then send the digest
                await relay.state.dispatcher.run_once()
                await relay.state.dispatcher.settle()
        jobs = await relay.jobs()
        merged = [j for j in jobs if j.digest_id is not None]
        assert len(merged) == 45 and len({j.digest_id for j in merged}) == 1
        digest_id = merged[0].digest_id
        assert robot.call_count == 1  # the digest, one message

        page = (await relay.client.get(f"/ui/notifications/{merged[0].id}")).text
        part_of = page.split('id="part-of-digest">')[1].split("</dd>")[0]
        assert "Delivered as part of digest" in part_of
        assert f'href="/ui/notifications/{digest_id}"' in part_of
        assert "Storm digest: 45 groups, 45 firing, 0 resolved" in part_of
        assert "status-delivered" in part_of
        zh = (await relay.client.get(f"/ui/notifications/{merged[0].id}?lang=zh-CN")).text
        assert "告警风暴摘要：45 个分组" in zh

        digest_page = (await relay.client.get(f"/ui/notifications/{digest_id}?lang=en")).text
        listed = digest_page.split('id="digest">')[1].split("</dd>")[0]
        assert "Merges 45 notifications:" in listed and "and 25 more" in listed
        assert listed.count('href="/ui/notifications/') == 20 and "</a>, and 25 more" in listed
        assert "/ui/playground?job=" not in digest_page  # a digest has no alerts to render
        refused = await relay.client.get(f"/ui/playground?job={digest_id}")
        assert refused.status_code == 400 and "cannot show it" in refused.text

        bearer = {"Authorization": f"Bearer {TOKEN}"}
        api = (await relay.client.get(f"/api/v1/notifications/{merged[0].id}", headers=bearer)).json()
        assert api["digest_id"] == digest_id and api["digest"] is None
        assert api["digest_job"]["id"] == digest_id
        assert api["digest_job"]["status"] == "delivered"
        assert api["digest_job"]["digest"]["groups"] == 45
        assert merged[0].id in api["digest_job"]["digest"]["jobs"]
        own = (await relay.client.get(f"/api/v1/notifications/{digest_id}", headers=bearer)).json()
        assert own["digest"]["kind"] == "storm" and own["digest_job"] is None
        assert sorted(own["digest"]["jobs"]) == sorted(j.id for j in merged)
        schemas = openapi_document()["components"]["schemas"]
        for answer in (api, own):  # every field of the answer is documented
            assert set(answer) <= set(schemas["Notification"]["properties"])
        assert set(own["digest"]) == set(schemas["Digest"]["properties"])


async def test_the_playground_previews_a_digest_and_sends_only_notifications(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        token = await csrf_of(relay, "/ui/playground")
        form = {
            "csrf": token,
            "target": "integration:chat/wecom/0",
            "source": "sample",
            "message": "storm",
            "groups": "60",
            "locale": "zh-CN",
        }
        rendered = await relay.client.post("/ui/playground", data=form)
        assert rendered.status_code == 200, rendered.text[:500]
        assert "wecom digest: " in rendered.text
        assert len(re.findall(r"\d+ / 4096 content bytes", rendered.text)) >= 2  # split in parts
        assert '<option value="storm" selected>' in rendered.text
        bad = await relay.client.post("/ui/playground", data={**form, "groups": "many"})
        assert bad.status_code == 400 and "groups: expected a whole number" in bad.text
        refused = await relay.client.post("/ui/playground/send", data=form)
        assert refused.status_code == 400 and "发送测试只发送单个分组的通知" not in refused.text
        assert "Send test sends one group" in refused.text


async def test_repeated_wrong_sign_ins_from_one_client_are_slowed_down(console: Any) -> None:
    """Before, 200 wrong tokens got 200 immediate 401s. Now a client gets 5 free tries,
    then waits 1 s, 2 s, 4 s... (at most a minute) between tries; others are not held up,
    and the right token after the wait signs in and clears the count."""
    async with console() as relay:
        wrong = {"username": "Eve", "secret": "not-the-token", "next": "/ui/"}
        answers = [(await relay.client.post("/ui/login", data=wrong)).status_code for _ in range(200)]
        assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
        held = await relay.client.post("/ui/login", data={**wrong, "secret": TOKEN})
        assert held.status_code == 429 and held.headers["Retry-After"] == "1"
        assert "try again in 1 s" in held.text

        transport = httpx.ASGITransport(app=relay.app, client=("10.0.0.2", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as other:
            assert (await other.post("/ui/login", data=wrong)).status_code == 401

        relay.clock.advance(1)
        assert (await relay.client.post("/ui/login", data=wrong)).status_code == 401
        assert (await relay.client.post("/ui/login", data=wrong)).headers["Retry-After"] == "2"
        relay.clock.advance(2)
        await sign_in(relay)
        relay.client.cookies.clear()
        assert (await relay.client.post("/ui/login", data=wrong)).status_code == 401


async def test_acknowledge_and_unacknowledge_from_the_group_page(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        await dead_job(relay, "AckMe")
        key = (await relay.jobs())[-1].group_key
        path = f"/ui/group?{urlencode({'key': key})}"
        page = await relay.client.get(path)
        assert 'id="ack"' in page.text and 'id="unack"' not in page.text
        token = await csrf_of(relay, path)
        forged = await relay.client.post("/ui/group/ack", data={"key": key, "acknowledged": "1"})
        assert forged.status_code == 403  # no CSRF token
        done = await relay.client.post("/ui/group/ack", data={"csrf": token, "key": key, "acknowledged": "1"})
        assert done.status_code == 303 and "done=acked" in done.headers["location"]
        page = await relay.client.get(done.headers["location"])
        text = re.sub(r"\s+", " ", page.text)
        assert "no repeat until the group changes" in text and "acknowledged by session:Ada" in text
        assert "Acknowledged by session:Ada via console" in text  # the timeline
        assert 'id="unack"' in page.text
        lifted = await relay.client.post(
            "/ui/group/ack", data={"csrf": await csrf_of(relay, path), "key": key, "acknowledged": "0"}
        )
        page = await relay.client.get(lifted.headers["location"])
        assert "Acknowledgement lifted" in page.text and 'id="ack"' in page.text


async def test_the_overview_says_who_is_on_call_and_links_the_calendar(console: Any) -> None:
    async with console() as relay:
        await sign_in(relay)
        schedule = relay.state.runtime.config.schedule("sre")
        assert schedule is not None
        person, _ = on_call(schedule, relay.clock.now())
        shown = {"zhangsan": "张三", "lisi": "李四"}
        page = await relay.client.get("/ui/")
        row = re.search(r'<tr data-schedule="sre">(.*?)</tr>', page.text, re.S)
        assert row is not None, page.text[:2000]
        assert shown[str(person)] in row.group(1)
        assert 'href="/api/v1/schedules/sre.ics"' in row.group(1)


async def test_swap_a_shift_from_the_overview_then_remove_it(console: Any) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    async with console() as relay:
        await sign_in(relay)
        schedule = relay.state.runtime.config.schedule("sre")
        assert schedule is not None
        person, _ = on_call(schedule, relay.clock.now())
        other = "lisi" if person == "zhangsan" else "zhangsan"
        shown = {"zhangsan": "张三", "lisi": "李四"}
        local = datetime.fromtimestamp(relay.clock.now(), ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
        form = {
            "csrf": await csrf_of(relay, "/ui/"),
            "schedule": "sre",
            "person": other,
            "start": local.replace(second=0, microsecond=0).isoformat(timespec="minutes"),
            "end": local.replace(year=local.year + 1).isoformat(timespec="minutes"),
        }
        too_long = await relay.client.post("/ui/oncall/override", data=form)
        assert too_long.status_code == 400 and "at most 90 days" in too_long.text
        form["end"] = local.replace(hour=23, minute=59, second=0, microsecond=0).isoformat(timespec="minutes")
        saved = await relay.client.post("/ui/oncall/override", data=form)
        assert saved.status_code == 303 and "done=override" in saved.headers["location"]
        page = await relay.client.get("/ui/?done=override")
        row = re.search(r'<tr data-schedule="sre">(.*?)</tr>', page.text, re.S)
        assert row is not None and shown[other] in row.group(1) and "override by session:Ada" in row.group(1)
        assert "Override saved" in page.text
        (made,) = await relay.state.store.list_overrides("sre")
        removed = await relay.client.post(
            "/ui/oncall/override/delete",
            data={"csrf": await csrf_of(relay, "/ui/"), "schedule": "sre", "id": made["id"]},
        )
        assert removed.status_code == 303
        assert await relay.state.store.list_overrides("sre") == []
        forged = await relay.client.post("/ui/oncall/override", data={**form, "csrf": "nope"})
        assert forged.status_code == 403


async def test_the_timeline_says_whether_a_call_was_answered(console: Any) -> None:
    from relay.pipeline.calls import call_ended

    async with console() as relay:
        await sign_in(relay)
        await dead_job(relay, "CallMe")
        key = (await relay.jobs())[-1].group_key
        now = relay.clock.now()
        await relay.state.apply(
            [
                call_ended(key, to="+86139****5678", status="no-answer", now=now, via="twilio"),
                call_ended(
                    key, to="+86139****5678", status="completed", now=now + 60, via="twilio", duration=20
                ),
            ]
        )
        page = await relay.client.get(f"/ui/group?{urlencode({'key': key})}")
        text = re.sub(r"\s+", " ", page.text)
        assert "Call to +86139****5678 not answered: no-answer (twilio)" in text
        assert "Call to +86139****5678 answered (twilio)" in text
