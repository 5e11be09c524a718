"""Bursts (issue 25, first-hour item 9): many groups for one robot in a short time, which
its rate limit could let out, became one message each (~40 phone buzzes for 60 groups).
The first ``storm.burst.after`` go alone at once; the rest wait at most
``storm.burst.collect`` and go together as a digest; every alert stays represented. Runs on
the fake clock, with the rate limiter and a robot fake that enforces WeCom's limit."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers.robot import ROBOT_CONFIG, through_robot
from tests.helpers.webhooks import alert, webhook

CONFIG = ROBOT_CONFIG


def group(index: int, severity: str = "warning", size: int = 2) -> dict[str, Any]:
    alerts = [
        alert("LinkDown", f"host-{index}-{n}:9100", group=f"g{index}", severity=severity) for n in range(size)
    ]
    payload = webhook(*alerts, group_key=f'{{}}:{{group="g{index}"}}')
    payload["groupLabels"] = {"alertname": "LinkDown", "group": f"g{index}"}
    return payload


def represented(contents: list[str], groups: int, size: int = 2) -> None:
    """Each group is told once, alone or as one digest line counting all its alerts."""
    text = "\n".join(contents)
    for index in range(groups):
        lines = re.findall(rf"group=g{index}\b[^\n]*· (\d+) firing", text)
        alone = [c for c in contents if "[FIRING:" in c and f"host-{index}-0:9100" in c]
        assert len(lines) + len(alone) == 1, (index, lines, alone)
        assert lines in ([], [str(size)])


async def test_sixty_groups_in_half_a_minute_are_a_few_messages_not_sixty(relay_factory) -> None:
    async with relay_factory(CONFIG) as relay:
        start = relay.clock.now()
        robot = await through_robot(relay, [group(i) for i in range(60)], every=0.5)
        assert robot.throttled == 0
        singles = [c for c in robot.contents if "storm" not in c.lower()]
        assert len(singles) == 3  # burst.after: the first three go alone, at once
        assert len(robot.contents) <= 8, len(robot.contents)  # was 38 singles, then digests
        represented(robot.contents, 60)
        # Nothing waited longer than collect (10s) past the last arrival.
        assert relay.clock.now() - start <= 30 + 10
        jobs = await relay.jobs()
        notifications = [j for j in jobs if "digest" not in j.payload]
        assert len(notifications) == 60 and all(j.status == "delivered" for j in jobs)
        merged = [j for j in notifications if j.digest_id]
        assert len(merged) == 57 and merged[0].attempts[-1].reason == "digest"


async def test_the_first_alone_are_the_most_severe(relay_factory) -> None:
    async with relay_factory(CONFIG) as relay:
        # Ten groups due at once, two of them critical: those two go alone first.
        robot = await through_robot(
            relay, [group(i, "critical" if i in (6, 8) else "info") for i in range(10)]
        )
        alone = [c for c in robot.contents if "[FIRING:" in c]
        assert len(alone) == 3
        assert "host-6-0" in alone[0] or "host-6-0" in alone[1]
        assert any("host-8-0" in c for c in alone[:2])
        represented(robot.contents, 10)
        assert len(robot.contents) == 4


async def test_a_trickle_goes_one_by_one(relay_factory) -> None:
    async with relay_factory(CONFIG) as relay:
        # One group every 25 s: never more than three in a minute.
        robot = await through_robot(relay, [group(i) for i in range(12)], every=25)
        assert len(robot.contents) == 12 and all("[FIRING:2]" in c for c in robot.contents)


async def test_one_that_waited_alone_goes_alone(relay_factory) -> None:
    async with relay_factory(CONFIG) as relay:
        robot = await through_robot(relay, [group(i) for i in range(4)], every=0.1)
        # The fourth waited for company that did not come: it is not a digest of one.
        assert len(robot.contents) == 4 and all("[FIRING:2]" in c for c in robot.contents)
        assert all(j.digest_id is None and "digest" not in j.payload for j in await relay.jobs())


async def test_an_escalation_step_that_pages_people_never_waits(relay_factory) -> None:
    # Every group's first notification carries step 1, which pages alex: each must reach
    # alex at once, whatever the burst.
    config = CONFIG.replace(
        "route:\n  receiver: oncall", "route:\n  receiver: oncall\n  escalation: wake"
    ) + (
        "people: [{name: alex}]\n"
        "escalation_policies:\n"
        "  - {name: wake, steps: [{targets: ['person:alex']}]}\n"
    )
    async with relay_factory(config) as relay:
        robot = await through_robot(relay, [group(i) for i in range(8)])
        assert len(robot.contents) == 8 and all("[FIRING:2]" in c for c in robot.contents)
        jobs = await relay.jobs()
        assert all(j.digest_id is None and "digest" not in j.payload for j in jobs)
        assert all(j.payload["escalation"]["targets"][0]["people"] == ["alex"] for j in jobs)


async def test_burst_disabled_sends_one_by_one(relay_factory) -> None:
    config = CONFIG + "        storm: {burst: {enabled: false}}\n"
    async with relay_factory(config) as relay:
        robot = await through_robot(relay, [group(i) for i in range(15)], every=0.5)
        assert len(robot.contents) == 15 and robot.throttled == 0


async def test_burst_settings_are_checked(relay_factory) -> None:
    from relay.channels.base import BurstConfig

    assert BurstConfig().after == 3 and BurstConfig().collect == 10.0
    for bad, words in (
        ({"collect": "2m", "window": "1m"}, "collect (2m) must not be longer than window (1m)"),
        ({"after": 0}, "greater than or equal to 1"),
        ({"collect": "0s"}, "must be from 1s to 1h"),
    ):
        try:
            BurstConfig.model_validate(bad)
        except ValueError as exc:
            assert words in str(exc), str(exc)
        else:
            raise AssertionError(bad)
