"""Alerts in a message, and groups in a digest, are ordered for the person paged: firing
before resolved, the most severe first, then the longest firing.

The class of defect: each builder of a notification (a group's update, an escalation
step, a digest, a preview) sorted by its own rule, by start time. Every builder is tried
here, and every channel's rendering keeps the order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from relay.channels.base import Message, Notifier
from relay.core.alerts import Alert, Notification, message_order
from relay.core.digests import Digest
from tests.channels.test_digest import DIGEST_CHANNELS, Kind, config
from tests.helpers.webhooks import alert, webhook

#: (alertname, severity, started): the critical alert started last, the warning first.
FIRING = [("NoteWorthy", "info", "06:10"), ("CpuHigh", "warning", "06:00"), ("DiskFull", "critical", "06:20")]
#: The order a phone should show them in.
EXPECTED = ["DiskFull", "CpuHigh", "NoteWorthy", "LinkFlap"]


def alerts_out_of_order() -> list[dict[str, Any]]:
    items = [
        {**alert(name, severity=severity), "startsAt": f"2026-11-22T{started}:00Z"}
        for name, severity, started in FIRING
    ]
    # A resolved critical alert goes after every firing one, whatever its severity.
    items.insert(
        0, {**alert("LinkFlap", status="resolved", severity="critical"), "startsAt": "2026-11-22T05:00:00Z"}
    )
    return items


def names(alerts: list[Alert]) -> list[str]:
    return [a.labels["alertname"] for a in alerts]


def test_message_order_ranks_severity_names_and_sorts_stably() -> None:
    parsed = [Alert.model_validate(a) for a in alerts_out_of_order()]
    for _ in range(20):
        random.shuffle(parsed)
        assert names(sorted(parsed, key=message_order)) == EXPECTED
    ranked = [
        Alert.model_validate({**alert("A", severity=s), "startsAt": "2026-11-22T06:00:00Z"})
        for s in ("none", "info", "P1", "Warning", "error", "unknown-word", "page")
    ]
    ordered = [a.labels["severity"] for a in sorted(ranked, key=message_order)]
    # An unknown word ranks with info; between equals the start time decides.
    assert ordered[:4] == ["P1", "page", "error", "Warning"] or ordered[:4] == [
        "page",
        "P1",
        "error",
        "Warning",
    ]
    assert set(ordered[4:6]) == {"info", "unknown-word"} and ordered[6] == "none"


CONFIG = """
route: {receiver: ops, group_wait: 0s, repeat_interval: 1h}
receivers: [{name: ops, log_configs: [{}]}]
"""


async def test_a_groups_notification_lists_critical_first(relay_factory: Any) -> None:
    async with relay_factory(CONFIG) as relay:
        assert (await relay.post(webhook(*alerts_out_of_order(), group_key="{}:{}"))).status_code == 200
        await relay.flush()
        jobs = await relay.jobs()
        assert len(jobs) == 1
        assert names(Notification.model_validate(jobs[0].payload).alerts) == EXPECTED


def notification() -> Notification:
    ordered = sorted((Alert.model_validate(a) for a in alerts_out_of_order()), key=message_order)
    return Notification(receiver="ops", group_key="{}:{}", status="firing", alerts=ordered)


def first_positions(text: str) -> list[int]:
    return [text.find(name) for name in EXPECTED if name in text]


@pytest.mark.parametrize("kind", DIGEST_CHANNELS, ids=lambda k: f"{k.kind}-{k.settings[:16]}")
def test_every_channel_shows_the_alerts_in_that_order(
    kind: Kind, notifier_for: Callable[..., Notifier]
) -> None:
    notifier = notifier_for(config(kind, "en"))
    text = notifier.preview(Message(job_id="j1", notification=notification(), integration="ops/x/0")).text
    positions = first_positions(text)
    assert len(positions) >= 3 and positions == sorted(positions), (kind.kind, positions)


def test_a_digest_lists_the_most_severe_group_first() -> None:
    def group(name: str, severity: str) -> Notification:
        item = Alert.model_validate({**alert(name, severity=severity), "startsAt": "2026-11-22T06:00:00Z"})
        return Notification(receiver="ops", group_key=name, status="firing", alerts=[item])

    arriving = [
        group("Info", "info"),
        group("Warn", "warning"),
        group("Crit", "critical"),
        group("Info2", "info"),
    ]
    digest = Digest.of_notifications(
        "storm", "ops", "ops/log/0", [(f"j{i}", n.group_key, n) for i, n in enumerate(arriving)], 0.0
    )
    # The most severe first; equal severities keep their arrival order.
    assert [e.alertname for e in digest.entries] == ["Crit", "Warn", "Info", "Info2"]
    stored = Digest.from_dict(digest.to_dict())
    assert [e.rank for e in stored.entries] == [0, 2, 3, 3]
