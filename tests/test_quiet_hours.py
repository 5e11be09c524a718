"""Quiet hours with the fake clock in Asia/Shanghai: hold_time_intervals keeps
notifications and releases them at the window's end (a digest, and the alerts still
firing notified again); mute_time_intervals and active_time_intervals drop them as
Alertmanager does."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from relay.cli.commands import main
from relay.core.clock import FakeClock
from tests.conftest import make_config
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).timestamp()


WINDOW_END = shanghai(3, 8)  # Tuesday 3 March 2026, 08:00 in Shanghai

INTERVALS = """
time_intervals:
  - name: night
    time_intervals:
      - times:
          - {start_time: "22:00", end_time: "24:00"}
          - {start_time: "00:00", end_time: "08:00"}
        location: Asia/Shanghai
"""


def config(sink: Sink, route: str) -> str:
    return (
        INTERVALS
        + route
        + f"""
receivers:
  - name: team
    webhook_configs:
      - url: {sink.url}/hook
        send_resolved: true
"""
    )


HOLD = """
route:
  receiver: team
  hold_time_intervals: [night]
  routes:
    - matchers: ['severity="critical"']
      receiver: team
"""


@pytest.fixture
def sink():
    with Sink() as server:
        yield server


def reasons(response: Any) -> list[str]:
    return [s["reason"] for s in response.json()["suppressed"]]


def alertnames(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((a["labels"]["alertname"], a["status"]) for a in body["alerts"])


def kind(job: Any) -> str:
    """'digest' for a digest job, else the notification's reason."""
    return "digest" if "digest" in job.payload else str(job.payload["reason"])


def digest_groups(digest: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    """(alertname, status, firing, resolved) of each group a digest lists."""
    return [(e["alertname"], e["status"], e["firing"], e["resolved"]) for e in digest["entries"]]


async def test_held_in_the_window_then_a_digest_and_the_still_firing_again(relay_factory, sink) -> None:
    clock = FakeClock(shanghai(2, 23))
    async with relay_factory(config(sink, HOLD), clock=clock) as relay:
        disk = alert("DiskFull", "db-1")
        cpu = alert("HighCPU", "web-1")
        response = await relay.post(webhook(disk, group_key='{}:{alertname="DiskFull"}'))
        assert response.json()["notifications"] == 0
        assert reasons(response) == ["held"]
        clock.set(shanghai(3, 1))
        await relay.post(webhook(cpu, group_key='{}:{alertname="HighCPU"}'))
        clock.set(shanghai(3, 2))
        resolved = alert("HighCPU", "web-1", status="resolved")
        response = await relay.post(webhook(resolved, group_key='{}:{alertname="HighCPU"}'))
        assert reasons(response) == ["held"]
        # A re-send of a held group changes nothing: dedup ran, the log moved on.
        again = await relay.post(webhook(disk, group_key='{}:{alertname="DiskFull"}'))
        assert reasons(again) == ["duplicate"]

        clock.set(WINDOW_END - 1)
        assert await relay.flush() == 0
        assert await relay.jobs() == []
        clock.set(WINDOW_END)
        assert await relay.flush() == 2
        assert await relay.deliver_all() == 2
        assert await relay.flush() == 0  # released once

    bodies = [r.json() for r in sink.received]
    # The webhook channel's digest object (relay.digest/1), sent first, as the docs say:
    # the night's summary, then what still fires.
    digest = bodies[0]
    assert digest.get("version") == "relay.digest/1"
    assert digest["kind"] == "hold"
    assert digest_groups(digest) == [("DiskFull", "firing", 1, 0), ("HighCPU", "resolved", 0, 1)]
    assert digest["window"] == {"start": shanghai(2, 23), "end": WINDOW_END}
    renotified = next(b for b in bodies if b is not digest)
    assert renotified["groupKey"] == '{}:{alertname="DiskFull"}'
    assert alertnames(renotified) == [("DiskFull", "firing")]


async def test_critical_alerts_go_through_a_sub_route_without_the_hold(relay_factory, sink) -> None:
    clock = FakeClock(shanghai(3, 3))
    async with relay_factory(config(sink, HOLD), clock=clock) as relay:
        response = await relay.post(
            webhook(alert("Down", "db-1", severity="critical"), group_key='{}:{alertname="Down"}')
        )
        assert response.json()["notifications"] == 1
        assert await relay.deliver_all() == 1
    assert alertnames(sink.received[0].json()) == [("Down", "firing")]


async def test_outside_the_window_nothing_is_held(relay_factory, sink) -> None:
    clock = FakeClock(shanghai(3, 12))
    async with relay_factory(config(sink, HOLD), clock=clock) as relay:
        response = await relay.post(webhook(alert()))
        assert response.json()["notifications"] == 1


async def test_a_group_that_resolved_in_the_window_is_only_in_the_digest(relay_factory, sink) -> None:
    clock = FakeClock(shanghai(2, 23))
    async with relay_factory(config(sink, HOLD), clock=clock) as relay:
        await relay.post(webhook(alert()))
        clock.set(shanghai(3, 4))
        await relay.post(webhook(alert(status="resolved")))
        clock.set(WINDOW_END)
        assert await relay.flush() == 1
        jobs = await relay.jobs()
        assert [kind(j) for j in jobs] == ["digest"]
        assert digest_groups(jobs[0].payload["digest"]) == [("HighCPUUsage", "resolved", 0, 1)]


async def test_holding_survives_a_restart(relay_factory, sink, tmp_path: Path) -> None:
    clock = FakeClock(shanghai(2, 23))
    async with relay_factory(config(sink, HOLD), clock=clock) as relay:
        await relay.post(webhook(alert()))
    clock.set(WINDOW_END + 30)  # relay was down when the window ended
    async with relay_factory(config(sink, HOLD), clock=clock) as relay:
        assert await relay.flush() == 2
        jobs = await relay.jobs()
        assert sorted(kind(j) for j in jobs) == ["digest", "hold_ended"]


async def test_a_relay_side_group_is_held_at_its_flushes_and_released_at_the_end(relay_factory, sink) -> None:
    route = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  hold_time_intervals: [night]
"""
    clock = FakeClock(shanghai(3, 7, 50))
    async with relay_factory(config(sink, route), clock=clock) as relay:
        await relay.post(webhook(alert("A", "x-1"), alert("A", "x-2")))
        clock.advance(30)
        assert await relay.flush() == 0  # decided, and held
        clock.advance(300)
        await relay.post(webhook(alert("A", "x-2", status="resolved")))
        assert await relay.flush() == 0
        clock.set(WINDOW_END)
        assert await relay.flush() == 2
        jobs = await relay.jobs()
        by_kind = {kind(j): j.payload for j in jobs}
        assert set(by_kind) == {"digest", "hold_ended"}
        assert alertnames(by_kind["hold_ended"]) == [("A", "firing")]
        assert digest_groups(by_kind["digest"]["digest"]) == [("A", "firing", 1, 1)]
        # The group goes on flushing every group_interval from the release, and a
        # change after the window is sent at once.
        clock.advance(300)
        await relay.post(webhook(alert("A", "x-3")))
        assert await relay.flush() == 1


async def test_one_digest_per_integration_for_many_groups(relay_factory, sink) -> None:
    # More groups than one flush batch (app.FLUSH_BATCH): the release is one batch anyway.
    clock = FakeClock(shanghai(2, 23))
    async with relay_factory(config(sink, HOLD), clock=clock) as relay:
        for n in range(150):
            await relay.post(webhook(alert(f"A{n}"), group_key=f'{{}}:{{alertname="A{n}"}}'))
        clock.set(WINDOW_END)
        assert await relay.flush() == 151
        digests = [j for j in await relay.jobs() if kind(j) == "digest"]
        assert len(digests) == 1
        assert len(digests[0].payload["digest"]["entries"]) == 150


# -- mute_time_intervals and active_time_intervals: Alertmanager's meaning ----------------

MUTE = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  mute_time_intervals: [night]
  routes:
    - matchers: ['team="db"']
"""


async def test_muted_notifications_are_dropped_and_the_log_stays(relay_factory, sink) -> None:
    clock = FakeClock(shanghai(3, 7, 50))
    async with relay_factory(config(sink, MUTE), clock=clock) as relay:
        await relay.post(webhook(alert("A", "x-1"), alert("B", "x-1")))
        clock.advance(30)
        assert await relay.flush() == 0
        group = next(
            g
            for g in [
                await relay.state.store.get_group(k)
                for k in await relay.state.store.due_groups(clock.now() + 1e6)
            ]
            if g is not None and g.labels == {"alertname": "A"}
        )
        assert group.log == {}  # muted before dedup: Alertmanager's TimeMuteStage
        # B resolves while muted: it is forgotten, never notified (Alertmanager deletes
        # the resolved alerts of a muted flush).
        await relay.post(webhook(alert("B", "x-1", status="resolved")))
        clock.set(WINDOW_END - 10)
        assert await relay.flush() == 0
        # The first flush after the window sends what still fires.
        clock.set(WINDOW_END + 300)
        assert await relay.flush() == 1
        jobs = await relay.jobs()
        assert [alertnames(j.payload) for j in jobs] == [[("A", "firing")]]


async def test_mute_intervals_are_not_inherited(relay_factory, sink) -> None:
    clock = FakeClock(shanghai(3, 1))
    async with relay_factory(config(sink, MUTE), clock=clock) as relay:
        await relay.post(webhook(alert("A", "db-1", team="db")))
        clock.advance(30)
        assert await relay.flush() == 1


async def test_a_passthrough_group_muted_is_sent_at_alertmanagers_next_resend(relay_factory, sink) -> None:
    route = "route:\n  receiver: team\n  mute_time_intervals: [night]\n"
    clock = FakeClock(shanghai(3, 7))
    async with relay_factory(config(sink, route), clock=clock) as relay:
        response = await relay.post(webhook(alert()))
        assert reasons(response) == ["muted"]
        clock.set(WINDOW_END + 3600)
        response = await relay.post(webhook(alert()))
        assert response.json()["notifications"] == 1


async def test_outside_the_active_interval_nothing_is_sent(relay_factory, sink) -> None:
    route = "route:\n  receiver: team\n  active_time_intervals: [night]\n"
    clock = FakeClock(shanghai(3, 12))
    async with relay_factory(config(sink, route), clock=clock) as relay:
        response = await relay.post(webhook(alert()))
        assert reasons(response) == ["inactive"]
        clock.set(shanghai(3, 23))
        response = await relay.post(webhook(alert()))
        assert response.json()["notifications"] == 1


async def test_held_notifications_wait_while_the_route_is_muted(relay_factory, sink) -> None:
    # Held overnight; a mute from 08:00 to 09:00: nothing goes out until 09:00.
    text = (
        INTERVALS
        + """
  - name: standup
    time_intervals:
      - times: [{start_time: "08:00", end_time: "09:00"}]
        location: Asia/Shanghai
"""
        + config(
            sink,
            """
route:
  receiver: team
  hold_time_intervals: [night]
  mute_time_intervals: [standup]
""",
        ).removeprefix(INTERVALS)
    )
    clock = FakeClock(shanghai(3, 7))
    async with relay_factory(text, clock=clock) as relay:
        await relay.post(webhook(alert()))
        clock.set(WINDOW_END)
        assert await relay.flush() == 0
        clock.set(shanghai(3, 9))
        assert await relay.flush() == 2


# -- what docs/storms-and-quiet-hours.md shows ------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "storms-and-quiet-hours.md"


def doc_blocks(kind: str, containing: str) -> list[str]:
    """The page's ``kind`` code blocks that contain ``containing``."""
    blocks = re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [block for block in blocks if containing in block]


def night_hold_config(tmp_path: Path, sink: Sink) -> str:
    """The night hold example, its WeCom robot swapped for a webhook to ``sink``."""
    [text] = doc_blocks("yaml", "hold_time_intervals: [night, weekend]")
    head, _, _ = text.partition("receivers:")
    return head + f"receivers:\n  - name: team\n    webhook_configs:\n      - url: {sink.url}/hook\n"


def test_the_documented_examples_are_valid(tmp_path: Path) -> None:
    secret = tmp_path / "robot"
    secret.write_text("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=example")
    examples = doc_blocks("yaml", "time_intervals:")
    assert len(examples) == 2
    for text in examples:
        make_config(text.replace("/run/secrets/wecom_team_robot", str(secret)))


def test_the_documented_routes_test_output(tmp_path: Path, sink) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(night_hold_config(tmp_path, sink))
    [console] = doc_blocks("console", "relay routes test")
    command, *expected = console.strip().splitlines()
    args = shlex.split(command.removeprefix("$ relay "))
    args[args.index("relay.yml")] = str(path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().splitlines() == expected


async def test_the_documented_night_and_weekend_make_one_window(relay_factory, sink, tmp_path: Path) -> None:
    clock = FakeClock(shanghai(6, 23))  # Friday 23:00
    async with relay_factory(night_hold_config(tmp_path, sink), clock=clock) as relay:
        response = await relay.post(webhook(alert()))
        assert reasons(response) == ["held"]
        assert relay.state.metrics.suppressed.labels("team", "held")._value.get() == 1
        clock.set(shanghai(7, 8))  # Saturday 08:00: the weekend goes on
        assert await relay.flush() == 0
        clock.set(shanghai(9, 0))  # Monday 00:00: the night goes on
        assert await relay.flush() == 0
        clock.set(shanghai(9, 8))
        assert await relay.flush() == 2
