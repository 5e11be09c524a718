"""Dedup and grouping: Alertmanager's notification-log rule, counted in notifications."""

from __future__ import annotations

import pytest

from relay.core.groups import LogEntry
from relay.pipeline import acks
from relay.pipeline.grouping import needs_update
from tests.helpers.webhooks import alert, webhook

PASSTHROUGH = """
route:
  receiver: team
  repeat_interval: 4h
receivers:
  - name: team
    log_configs: [{}]
"""

NO_RESOLVED = """
route:
  receiver: team
  repeat_interval: 4h
receivers:
  - name: team
    log_configs: [{send_resolved: false}]
"""

GROUPED = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: team
    log_configs: [{}]
"""

A = alert(instance="node-1:9100")
B = alert(instance="node-2:9100")
A_RESOLVED = alert(instance="node-1:9100", status="resolved")
B_RESOLVED = alert(instance="node-2:9100", status="resolved")


@pytest.mark.parametrize(
    ("entry", "firing", "resolved", "send_resolved", "expected"),
    [
        (None, {"a"}, set(), True, "new_alerts"),
        (None, set(), {"a"}, True, None),  # resolved before ever being notified
        (LogEntry(["a"], [], 0), {"a"}, set(), True, None),
        (LogEntry(["a"], [], 0), {"a", "b"}, set(), True, "new_alerts"),
        (LogEntry(["a", "b"], [], 0), {"a"}, {"b"}, True, "resolved"),
        (LogEntry(["a", "b"], [], 0), {"a"}, {"b"}, False, None),
        (LogEntry(["a"], [], 0), set(), {"a"}, False, "all_resolved"),
        (LogEntry([], ["a"], 0), set(), {"a"}, True, None),
    ],
)
def test_needs_update_table(
    entry: LogEntry | None,
    firing: set[str],
    resolved: set[str],
    send_resolved: bool,
    expected: str | None,
) -> None:
    assert needs_update(entry, firing, resolved, send_resolved, 3600, now=100) == expected


def test_needs_update_repeat_interval() -> None:
    entry = LogEntry(["a"], [], at=1000)
    assert needs_update(entry, {"a"}, set(), True, 3600, now=1000 + 3599) is None
    assert needs_update(entry, {"a"}, set(), True, 3600, now=1000 + 3600) == "repeat"


async def test_same_webhook_twice_from_an_ha_pair_notifies_once(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        for _ in range(2):
            assert (await relay.post(webhook(A))).status_code == 200
        assert len(await relay.jobs()) == 1


async def test_resend_inside_repeat_interval_notifies_nothing(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A, B))
        relay.clock.advance(3600)
        await relay.post(webhook(A, B))
        assert len(await relay.jobs()) == 1


async def test_one_new_alert_notifies_once_with_both(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(60)
        await relay.post(webhook(A, B))
        jobs = await relay.jobs()
        assert len(jobs) == 2
        assert len(jobs[1].payload["alerts"]) == 2
        assert jobs[1].payload["reason"] == "new_alerts"


async def test_one_alert_resolved_notifies_once(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A, B))
        relay.clock.advance(60)
        await relay.post(webhook(A, B_RESOLVED))
        await relay.post(webhook(A, B_RESOLVED))  # and its HA twin
        jobs = await relay.jobs()
        assert len(jobs) == 2
        assert jobs[1].payload["reason"] == "resolved"
        assert [a["status"] for a in jobs[1].payload["alerts"]] == ["firing", "resolved"]


async def test_one_alert_resolved_without_send_resolved_notifies_nothing(relay_factory) -> None:
    async with relay_factory(NO_RESOLVED) as relay:
        await relay.post(webhook(A, B))
        relay.clock.advance(60)
        await relay.post(webhook(A, B_RESOLVED))
        assert len(await relay.jobs()) == 1


async def test_all_resolved_notifies_once(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A, B))
        relay.clock.advance(60)
        await relay.post(webhook(A_RESOLVED, B_RESOLVED))
        await relay.post(webhook(A_RESOLVED, B_RESOLVED))
        jobs = await relay.jobs()
        assert len(jobs) == 2
        assert jobs[1].payload["status"] == "resolved"
        assert jobs[1].payload["reason"] == "all_resolved"


async def test_all_resolved_without_send_resolved_notifies_nothing_but_clears_the_log(
    relay_factory,
) -> None:
    async with relay_factory(NO_RESOLVED) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(60)
        await relay.post(webhook(A_RESOLVED))
        assert len(await relay.jobs()) == 1
        relay.clock.advance(60)
        await relay.post(webhook(A))  # fires again: a new notification
        assert len(await relay.jobs()) == 2


async def test_after_repeat_interval_notifies_again(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(4 * 3600)
        await relay.post(webhook(A))
        await relay.post(webhook(A))
        jobs = await relay.jobs()
        assert len(jobs) == 2
        assert jobs[1].payload["reason"] == "repeat"


async def test_group_wait_collects_two_webhooks_into_one_notification(relay_factory) -> None:
    async with relay_factory(GROUPED) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(10)
        await relay.post(webhook(B))
        relay.clock.advance(19)
        assert await relay.flush() == 0  # 29 s: still waiting
        relay.clock.advance(1)
        assert await relay.flush() == 1
        jobs = await relay.jobs()
        assert len(jobs) == 1
        assert sorted(a["labels"]["instance"] for a in jobs[0].payload["alerts"]) == [
            "node-1:9100",
            "node-2:9100",
        ]
        assert jobs[0].payload["group_labels"] == {"alertname": "HighCPUUsage"}


async def test_group_interval_and_repeat_with_group_by(relay_factory) -> None:
    async with relay_factory(GROUPED) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(30)
        assert await relay.flush() == 1
        relay.clock.advance(300)  # group_interval: nothing changed
        assert await relay.flush() == 0
        await relay.post(webhook(A_RESOLVED))
        relay.clock.advance(300)
        assert await relay.flush() == 1  # the resolved notification
        relay.clock.advance(300)
        assert await relay.flush() == 0  # group emptied: no timer left
        jobs = await relay.jobs()
        assert [j.payload["status"] for j in jobs] == ["firing", "resolved"]


async def test_group_by_splits_groups_by_label(relay_factory) -> None:
    config = GROUPED.replace("group_by: [alertname]", "group_by: [instance]")
    async with relay_factory(config) as relay:
        await relay.post(webhook(A, B))
        relay.clock.advance(30)
        assert await relay.flush() == 2


async def test_dedup_state_survives_a_restart(relay_factory, tmp_path) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        clock = relay.clock
    async with relay_factory(PASSTHROUGH, clock=clock) as relay:
        await relay.post(webhook(A))
        assert len(await relay.jobs()) == 1


async def test_each_integration_has_its_own_log(relay_factory) -> None:
    config = """
    route:
      receiver: team
    receivers:
      - name: team
        log_configs: [{send_resolved: true}, {send_resolved: false}]
    """
    async with relay_factory(config) as relay:
        await relay.post(webhook(A, B))
        await relay.post(webhook(A, B_RESOLVED))
        jobs = await relay.jobs()
        assert sorted(j.integration for j in jobs) == ["team/log/0", "team/log/0", "team/log/1"]


async def test_suppressed_names_each_integration_and_its_last_send(relay_factory) -> None:
    config = """
    route:
      receiver: team
    receivers:
      - name: team
        log_configs: [{send_resolved: true}, {send_resolved: false}]
    """
    async with relay_factory(config) as relay:
        await relay.post(webhook(A, B))
        first = relay.clock.now()
        relay.clock.advance(60)
        answer = await relay.post(webhook(A, B_RESOLVED))
    assert answer.json()["notifications"] == 1  # team/log/0 tells of B's resolution
    assert answer.json()["suppressed"] == [
        {"receiver": "team", "integration": "team/log/1", "reason": "duplicate", "last_sent": first},
    ]


async def test_a_flush_with_nothing_new_is_counted_as_suppressed(relay_factory) -> None:
    async with relay_factory(GROUPED) as relay:
        answer = await relay.post(webhook(A))
        assert answer.json()["suppressed"] == []  # a group_by route decides at its flush
        relay.clock.advance(30)
        assert await relay.flush() == 1
        relay.clock.advance(300)
        assert await relay.flush() == 0
        counted = relay.state.metrics.registry.get_sample_value(
            "relay_notifications_suppressed_total", {"receiver": "team", "reason": "duplicate"}
        )
    assert counted == 1


async def acknowledge(relay, index: int = -1) -> None:  # type: ignore[no-untyped-def]
    """What a click on Acknowledge does to the group of the notification ``index``."""
    job = (await relay.jobs())[index]
    firing = [a["fingerprint"] for a in job.payload["alerts"] if a["status"] == "firing"]
    await relay.state.apply(
        [acks.acknowledge(job.group_key, "alice", "slack", relay.clock.now(), firing=firing)]
    )


async def test_acknowledged_group_is_not_repeated_until_it_changes(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A, B))
        await acknowledge(relay)
        relay.clock.advance(5 * 3600)  # repeat_interval passed
        answer = (await relay.post(webhook(A, B))).json()
        assert [s["reason"] for s in answer["suppressed"]] == ["acknowledged"]
        assert len(await relay.jobs()) == 1
        await relay.post(webhook(A, B_RESOLVED))  # one resolved: the group changed
        jobs = await relay.jobs()
        assert [j.payload["reason"] for j in jobs] == ["new_alerts", "resolved"]
        relay.clock.advance(5 * 3600)
        await relay.post(webhook(A, B_RESOLVED))
        assert [j.payload["reason"] for j in await relay.jobs()][-1] == "repeat"


async def test_acknowledged_relay_side_group_is_not_repeated(relay_factory) -> None:
    async with relay_factory(GROUPED) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(30)
        assert await relay.flush() == 1
        await acknowledge(relay)
        for _ in range(4 * 12 + 1):  # flushes every group_interval, past repeat_interval
            relay.clock.advance(300)
            assert await relay.flush() == 0
        await relay.post(webhook(A, B))  # a new alert joins
        relay.clock.advance(300)
        assert await relay.flush() == 1
        assert [j.payload["reason"] for j in await relay.jobs()] == ["new_alerts", "new_alerts"]
