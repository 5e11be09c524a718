"""Alert storms (issue 13): a backlog a robot's rate limit cannot clear in time is merged
into digests; nothing is lost, nothing is throttled, dedup still works, and afterwards
notifications go one by one again. Everything runs on the fake clock: the rate limiter
and the robot fake both count on it, and waiting for the limiter moves it."""

from __future__ import annotations

import re
from typing import Any

import respx

from tests.helpers.robot import (
    ROBOT,
    ROBOT_CONFIG,
    RobotFake,
    deliver_everything,
    through_robot,
    use_fake_time,
)
from tests.helpers.webhooks import alert, webhook

GROUPS, PER_GROUP = 500, 20

CONFIG = ROBOT_CONFIG


def group_webhook(index: int, size: int = PER_GROUP) -> dict[str, Any]:
    alerts = [alert("LinkDown", f"host-{index}-{n}:9100", group=f"g{index}") for n in range(size)]
    payload = webhook(*alerts, group_key=f'{{}}:{{group="g{index}"}}')
    payload["groupLabels"] = {"alertname": "LinkDown", "group": f"g{index}"}
    return payload


async def test_storm_of_500_groups_is_merged_within_the_rate_and_then_calms(relay_factory) -> None:
    async with relay_factory(CONFIG) as relay:
        use_fake_time(relay)
        start = relay.clock.now()
        with respx.mock(assert_all_called=False) as mock:
            robot = RobotFake(relay.clock)
            mock.post(ROBOT).mock(side_effect=robot)
            for index in range(GROUPS):
                assert (await relay.post(group_webhook(index))).status_code == 200
            await deliver_everything(relay)

            assert robot.throttled == 0
            # Every alert is represented: each group's entry, counting all 20 alerts, once.
            text = "\n".join(robot.contents)
            for index in range(GROUPS):
                entries = re.findall(rf"group=g{index}\b[^\n]*· (\d+) firing", text)
                assert entries == [str(PER_GROUP)], index
            assert len(robot.contents) < 40
            assert relay.clock.now() - start <= 120  # every alert out within 2 minutes

            jobs = await relay.jobs()
            singles = [j for j in jobs if "digest" not in j.payload]
            digests = {j.id: j for j in jobs if "digest" in j.payload}
            assert len(singles) == GROUPS and all(j.status == "delivered" for j in jobs)
            merged = [j for j in singles if j.digest_id is not None]
            assert merged and all(j.digest_id in digests for j in merged)
            listed = (await relay.client.get("/api/v1/notifications?limit=1000")).json()
            by_id = {n["id"]: n for n in listed["notifications"]}
            assert by_id[merged[0].id]["digest_id"] == merged[0].digest_id
            assert by_id[merged[0].digest_id]["digest"]["groups"] == len(merged)
            assert merged[0].attempts[-1].reason == "digest"
            covered = {
                job for d in digests.values() for e in d.payload["digest"]["entries"] for job in e["job_ids"]
            }
            assert covered == {j.id for j in merged}

            # The notification log of every group moved: Alertmanager's re-send is a duplicate.
            for index in range(GROUPS):
                await relay.post(group_webhook(index))
            assert len(await relay.jobs()) == len(jobs)

            # The storm is over: a new group goes out alone, as its own message.
            relay.clock.advance(120)
            sent_before = len(robot.contents)
            await relay.post(group_webhook(GROUPS))
            await deliver_everything(relay)
            alone = robot.contents[sent_before:]  # its own message, split in parts (20 alerts)
            assert alone and all("[FIRING:20]" in part and "storm" not in part for part in alone)
            assert all(f"group=g{GROUPS}" in part or "LinkDown" in part for part in alone)
            last = (await relay.jobs())[-1]
            assert last.digest_id is None and "digest" not in last.payload
            assert robot.throttled == 0


async def test_a_backlog_the_rate_allows_is_not_a_storm(relay_factory) -> None:
    # With bursts off (tests/test_burst.py has them): the rate limit alone decides.
    async with relay_factory(CONFIG + "        storm: {burst: {enabled: false}}\n") as relay:
        # 15 one-message groups < 20 per minute: no storm
        robot = await through_robot(relay, [group_webhook(index, size=2) for index in range(15)])
        assert len(robot.contents) == 15 and robot.throttled == 0
        assert all(j.digest_id is None and "digest" not in j.payload for j in await relay.jobs())


async def test_storm_disabled_sends_one_by_one(relay_factory) -> None:
    config = CONFIG + "        storm: {enabled: false}\n"
    async with relay_factory(config) as relay:
        robot = await through_robot(relay, [group_webhook(index, size=2) for index in range(30)])
        assert len(robot.contents) == 30 and robot.throttled == 0
