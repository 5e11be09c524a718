"""Testing a route says what a first alert will meet: the total wait for its first
notification, and the hold, mute or active windows in force and until when — the same
in the CLI (on stdout), the API and the console, in global.timezone.

The class of defect: each place that tests routes told only part of it (the API and the
console only the receivers; the CLI the windows on stderr), and nothing said that a
relay-side group_by waits on top of Alertmanager's group_wait.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from relay.cli.commands import main
from relay.config import parse_config
from relay.core.clock import FakeClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI).timestamp()  # Monday 23:00

CONFIG = """
global: {timezone: Asia/Shanghai}
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "08:00"}]
        location: Asia/Shanghai
  - name: maintenance
    time_intervals:
      - times: [{start_time: "22:30", end_time: "23:30"}]
        location: Asia/Shanghai
route:
  receiver: ops
  routes:
    - matchers: ['team="db"']
      receiver: ops
      group_by: [alertname]
      group_wait: 30s
      hold_time_intervals: [night]
    - matchers: ['team="web"']
      receiver: ops
      mute_time_intervals: [maintenance]
receivers: [{name: ops, log_configs: [{}]}]
"""


def test_the_cli_prints_the_first_wait_and_the_window_on_stdout(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(CONFIG, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["routes", "test", "--config", str(path), "--at", "2026-03-02T23:00", "team=db"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0] == "ops"
    assert "30s after the webhook (relay's group_wait, by alertname)" in out
    assert "+ Alertmanager's group_wait = 1m" in out
    assert "now: held until 2026-03-03 08:00 +08:00 (hold_time_intervals)" in out
    passthrough = CliRunner().invoke(
        main, ["routes", "test", "--config", str(path), "--at", "2026-03-02T23:00", "team=web"]
    )
    assert "now: muted until 2026-03-02 23:30 +08:00" in passthrough.stdout
    assert "Alertmanager's group_wait is the only wait" in passthrough.stdout


async def test_the_api_answers_each_routes_wait_and_window(relay_factory: Any) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(NIGHT)) as relay:
        answer = await relay.client.post("/api/v1/routes/test", json={"labels": {"team": "db"}})
        assert answer.status_code == 200, answer.text
        route = answer.json()["routes"][0]
        assert (route["relay_wait"], route["first_wait_with_alertmanager_default"]) == (30.0, 60.0)
        assert route["gate"] == "held"
        assert route["gate_until"] == datetime(2026, 3, 3, 8, 0, tzinfo=SHANGHAI).timestamp()
        assert route["intervals"][0] | {"changes_at": None} == {
            "kind": "hold",
            "names": ["night"],
            "in_force": ["night"],
            "effect": "held",
            "effect_text": "held for a digest",
            "changes_at": None,
        }
        noon = await relay.client.post(
            "/api/v1/routes/test", json={"labels": {"team": "db"}, "at": "2026-03-03T12:00"}
        )
        assert noon.json()["routes"][0]["gate"] == "send"
        bad = await relay.client.post(
            "/api/v1/routes/test", json={"labels": {"team": "db"}, "at": "tea time"}
        )
        assert bad.status_code == 400 and "at:" in bad.text


async def test_the_console_shows_the_windows_in_its_language(relay_factory: Any) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(NIGHT)) as relay:
        tree = (await relay.client.get("/ui/routes")).text
        assert "held during" in tree and "<code>night</code>" in tree
        assert "muted during" in tree and "<code>maintenance</code>" in tree
        tested = (await relay.client.get("/ui/routes", params={"labels": "team=db"})).text
        assert "Now held until 2026-03-03 08:00:00 (night)" in tested
        assert "on top of Alertmanager" in tested
        chinese = (await relay.client.get("/ui/routes", params={"labels": "team=db", "lang": "zh-CN"})).text
        assert "当前暂存至 2026-03-03 08:00:00（night）" in chinese
        assert "暂存时段" in chinese


def test_check_config_warns_when_relay_would_regroup_with_the_default_wait() -> None:
    text = """
route:
  receiver: ops
  routes:
    - matchers: ['team="db"']
      receiver: ops
      group_by: [alertname]
    - matchers: ['team="web"']
      receiver: ops
      group_by: [alertname]
      group_wait: 0s
receivers: [{name: ops, log_configs: [{}]}]
"""
    warnings = parse_config(text, env={}).warnings
    assert [w.split(":")[0] for w in warnings] == ["route.routes[0].group_by"]
    assert "the first page comes after both (1m with both defaults)" in warnings[0]
