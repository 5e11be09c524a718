"""A storm through a real `relay serve`: 100 groups of 5 alerts arrive at once for one
WeCom robot that takes 20 messages a minute and answers errcode 45009 past it (as WeCom
does). Every alert must reach the robot within seconds, summarised in digests, without a
single 45009; the delivery log says which digest each notification went out in; a
re-send of the same webhooks creates nothing; and when the storm has passed a new group
goes out alone, as usual.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from bench.storm import Coverage, Robot, config_text, group_webhook
from tests.helpers.process import RelayProcess

GROUPS, PER_GROUP = 100, 5
# The first notifications go one by one and fill the robot's minute; the rest are merged
# and go out when the minute has passed. Without digests: 100 messages, 5 minutes.
DEADLINE = 100.0


def wait_for_coverage(robot: Robot, coverage: Coverage, deadline: float) -> None:
    while time.monotonic() < deadline:
        with robot.lock:
            messages = list(robot.messages)
        coverage.scan(messages)
        if coverage.complete:
            return
        time.sleep(0.2)


def test_a_storm_is_summarised_within_the_robots_rate(tmp_path: Path) -> None:
    robot = Robot()
    config = tmp_path / "relay.yml"
    config.write_text(config_text(tmp_path / "relay.db", robot.url, storm=True))
    relay = RelayProcess(config).start()
    try:
        with httpx.Client(base_url=relay.url, timeout=30.0) as client:
            start = time.monotonic()
            for index in range(GROUPS):
                answer = client.post("/api/v1/alerts/webhook", json=group_webhook(index, PER_GROUP))
                assert answer.status_code == 200, answer.text
            coverage = Coverage(GROUPS, PER_GROUP)
            wait_for_coverage(robot, coverage, start + DEADLINE)
            assert coverage.complete, (len(coverage.alerts), relay.log()[-2000:])
            assert robot.throttled == 0  # relay never went over the robot's limit
            assert len(robot.messages) <= 30  # one window of singles, then a few digests

            # The delivery log: every notification delivered, most as part of a digest.
            notifications = relay.settled_jobs(GROUPS)
            singles = [j for j in notifications if not j.get("digest")]
            merged = [j for j in singles if j.get("digest_id")]
            assert len(singles) == GROUPS
            assert {j["status"] for j in singles} == {"delivered"}
            assert len(merged) >= GROUPS // 2  # some were on their way alone before the storm showed
            digest_ids = {j["id"] for j in notifications if j.get("digest")}
            assert {j["digest_id"] for j in merged} <= digest_ids

            # The same webhooks again (Alertmanager re-sends): nothing new to send.
            sent_before = len(robot.messages)
            for index in range(GROUPS):
                client.post("/api/v1/alerts/webhook", json=group_webhook(index, PER_GROUP))
            time.sleep(1.0)
            assert len(robot.messages) == sent_before

            # After the storm a new group goes out alone, with its own alerts in it.
            answer = client.post("/api/v1/alerts/webhook", json=group_webhook(GROUPS, 1))
            assert answer.status_code == 200
            deadline = time.monotonic() + 70.0  # at worst the robot's minute must pass
            while time.monotonic() < deadline and len(robot.messages) == sent_before:
                time.sleep(0.2)
            assert len(robot.messages) == sent_before + 1, relay.log()[-2000:]
            assert f"host-{GROUPS}-0" in robot.messages[-1][1]
            assert robot.throttled == 0
    finally:
        relay.stop()
        robot.close()
