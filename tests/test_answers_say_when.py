"""What relay answers about a notification it did not send now says when it will, and
when it last did — not a held decision dressed up as a send.

The class of defect: a hold window moves a group's notification log (dedup runs), and
every reader of the log (the webhook's answer, `test-alert`, the group's page) took that
move for a send; a group_by route's alerts were "0 notifications, nothing suppressed";
times were in the CLI machine's zone, not relay's `global.timezone`; and a 401 did not
say how to give the token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner

from relay.cli import commands
from relay.core.clock import FakeClock
from tests.helpers.webhooks import alert, webhook

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).timestamp()


CONFIG = """
global: {timezone: Asia/Shanghai}
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "08:00"}]
        location: Asia/Shanghai
route:
  receiver: team
  repeat_interval: 1h
  hold_time_intervals: [night]
  routes:
    - matchers: ['team="db"']
      receiver: team
      group_by: [alertname]
      group_wait: 45s
receivers: [{name: team, log_configs: [{}]}]
"""


async def test_a_held_group_never_sent_says_so_and_until_when(relay_factory: Any) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(shanghai(2, 23))) as relay:
        answer = (await relay.post(webhook(alert("DiskFull"), group_key="{}:{a}"))).json()
        assert answer["timezone"] == "Asia/Shanghai"
        [held] = answer["suppressed"]
        assert (held["reason"], held["last_sent"], held["until"]) == ("held", None, shanghai(3, 8))

        groups = (await relay.client.get("/api/v1/groups")).json()["groups"]
        detail = (await relay.client.get(f"/api/v1/groups/{quote(groups[0]['key'], safe='')}")).json()
        [integration] = detail["integrations"]
        assert integration["last_sent_at"] is None and integration["repeat_due_at"] is None
        assert integration["held_until"] == shanghai(3, 8)
        page = (await relay.client.get("/ui/group", params={"key": groups[0]["key"]})).text
        assert "held until 2026-03-03 08:00:00, then in the window&#39;s digest" in page


async def test_held_after_a_send_reports_the_send_before_the_window(relay_factory: Any) -> None:
    clock = FakeClock(shanghai(2, 21))
    async with relay_factory(CONFIG, clock=clock) as relay:
        sent = await relay.post(webhook(alert("DiskFull"), group_key="{}:{a}"))
        assert sent.json()["notifications"] == 1
        clock.set(shanghai(2, 23))  # the repeat falls in the window: held
        again = (await relay.post(webhook(alert("DiskFull"), group_key="{}:{a}"))).json()
        assert [(s["reason"], s["last_sent"]) for s in again["suppressed"]] == [("held", shanghai(2, 21))]
        clock.set(shanghai(3, 1))  # held again: still the send before the window
        third = (await relay.post(webhook(alert("DiskFull"), alert("Disk2"), group_key="{}:{a}"))).json()
        assert [(s["reason"], s["last_sent"]) for s in third["suppressed"]] == [("held", shanghai(2, 21))]


async def test_a_group_by_route_answers_the_group_and_its_flush(relay_factory: Any) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(shanghai(3, 12))) as relay:
        answer = (await relay.post(webhook(alert("DiskFull", team="db")))).json()
        assert answer["notifications"] == 0 and answer["suppressed"] == []
        [grouped] = answer["grouped"]
        assert grouped["receiver"] == "team" and "DiskFull" in grouped["group_key"]
        assert grouped["flush_at"] == shanghai(3, 12) + 45


def fake_relay(monkeypatch: pytest.MonkeyPatch, status: int, body: dict[str, Any]) -> None:
    """test-alert's request answered with what relay answered (taken from a real app)."""

    def request(method: str, url: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Response(status, json=body, request=httpx.Request(method, url, headers=headers))

    monkeypatch.setattr(commands, "request", request)


async def test_test_alert_tells_held_and_grouped_in_relays_timezone(
    relay_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(shanghai(2, 23))) as relay:
        held = (await relay.post(webhook(alert("DiskFull"), group_key="{}:{a}"))).json()
        grouped = (await relay.post(webhook(alert("DiskFull", team="db")))).json()
    fake_relay(monkeypatch, 200, held)
    out = CliRunner().invoke(commands.main, ["test-alert", "--url", "http://127.0.0.1:9"]).stdout
    assert (
        "held until 2026-03-03 08:00:00 +08:00 (hold_time_intervals), then sent in the window's digest" in out
    )
    assert "never sent before" in out and "last sent" not in out
    fake_relay(monkeypatch, 200, grouped)
    out = CliRunner().invoke(commands.main, ["test-alert", "--url", "http://127.0.0.1:9"]).stdout
    assert "waiting in group" in out and "until 2026-03-02 23:00:45 +08:00 (group_wait), then notified" in out
    assert "nothing suppressed" not in out


@pytest.mark.parametrize(
    ("token", "hint"), [(None, "--token TOKEN, or export RELAY_TOKEN"), ("wrong", "refused")]
)
def test_a_401_says_how_to_give_the_token(
    monkeypatch: pytest.MonkeyPatch, token: str | None, hint: str
) -> None:
    fake_relay(monkeypatch, 401, {"error": "unauthorized"})
    args = ["test-alert", "--url", "http://127.0.0.1:9"] + (["--token", token] if token else [])
    result = CliRunner(env={"RELAY_TOKEN": None}).invoke(commands.main, args)
    assert result.exit_code == 1
    assert hint in result.stderr
