"""A storm into one DingTalk robot through the real Dispatcher, on a fake clock: relay
stays within 20 messages a minute (split parts counted), so a fake robot that enforces
DingTalk's limit never answers 130101; and when it does (another sender shares the
robot), nothing goes to that robot for the 10 minutes DingTalk blocks it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import respx

from relay.channels.dingtalk import DINGTALK_API_URL
from relay.core.clock import FakeClock
from relay.pipeline.ratelimit import LimiterRegistry
from tests.channels.test_dingtalk import SECRET, TOKEN
from tests.conftest import Relay
from tests.helpers.dingtalk import independent_sign
from tests.helpers.webhooks import alert, webhook

CONFIG = f"""
route: {{receiver: robot, group_by: [alertname], group_wait: 0s, group_interval: 1h}}
receivers:
  - name: robot
    dingtalk_configs: [{{access_token: {TOKEN}, secret: {SECRET}}}]
"""


def fake_time_limiters(clock: FakeClock) -> LimiterRegistry:
    """The dispatcher's limiters on the test's clock: waiting moves the clock."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    return LimiterRegistry(monotonic=clock.now, sleep=sleep)


class FakeRobot:
    """DingTalk's limit: 20 a rolling minute; one more blocks the robot for 10 minutes."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.accepted: list[float] = []
        self.throttled: list[float] = []
        self.blocked_until = 0.0
        self.foreign: list[float] = []  # messages another program sent through the robot

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert params["access_token"] == TOKEN
        raw_sign = str(request.url).split("sign=")[1]
        assert raw_sign == independent_sign(SECRET, params["timestamp"])
        assert len(request.content) <= 20000
        now = self.clock.now()
        recent = [t for t in self.accepted + self.foreign if t > now - 60]
        if now < self.blocked_until or len(recent) >= 20:
            self.throttled.append(now)
            self.blocked_until = now + 600
            return httpx.Response(
                200, json={"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
            )
        self.accepted.append(now)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})


async def run_dispatcher_once(relay: Relay) -> None:
    """Claim every due job and deliver each in turn, as one worker of the robot would."""
    jobs = await relay.state.store.claim_jobs("test", relay.clock.now(), 1000, 86400.0)
    for job in sorted(jobs, key=lambda j: j.created_at):
        await relay.state.dispatcher.deliver(job)


def storm(count: int, big_every: int = 10) -> list[dict[str, Any]]:
    """``count`` notifications; every ``big_every``-th (none for 0) has two alerts too big
    for one 20,000-byte message."""
    payloads = []
    for i in range(count):
        items = [alert(f"Storm{i:03d}")]
        if big_every and i % big_every == 0:
            items.append(alert(f"Storm{i:03d}", instance="node-2:9100"))
            for item in items:
                item["annotations"]["summary"] = "磁盘空间不足" * 700  # 12,600 bytes
        payloads.append(webhook(*items, group_key=f'{{}}:{{alertname="Storm{i:03d}"}}'))
    return payloads


async def test_a_storm_of_100_notifications_never_trips_the_robots_limit(
    relay_factory: Callable[..., Any],
    respx_mock: respx.MockRouter,
) -> None:
    clock = FakeClock()
    robot = FakeRobot(clock)
    route = respx_mock.post(DINGTALK_API_URL).mock(side_effect=robot)
    async with relay_factory(CONFIG, clock=clock) as relay:
        relay.state.dispatcher.limiters = fake_time_limiters(clock)
        for payload in storm(100):
            assert (await relay.post(payload)).status_code == 200
        await relay.flush()
        assert len(await relay.jobs()) == 100
        started = clock.now()

        await run_dispatcher_once(relay)
        jobs = await relay.jobs()

    assert robot.throttled == []
    assert [j.status for j in jobs] == ["delivered"] * 100
    assert all(len(j.attempts) == 1 for j in jobs)
    # Ten notifications went in two parts each: 110 messages, 20 per minute at most.
    assert len(robot.accepted) == route.call_count == 110
    for i, at in enumerate(robot.accepted):
        assert sum(1 for t in robot.accepted[i:] if t < at + 60) <= 20
    assert clock.now() - started >= 60 * (110 // 20)  # it took the time DingTalk allows
    parts = [json.loads(c.request.content) for c in route.calls]
    assert sum("(1/2)" in p["markdown"]["text"].splitlines()[0] for p in parts) == 10


async def test_after_a_130101_nothing_goes_to_the_robot_for_10_minutes(
    relay_factory: Callable[..., Any],
    respx_mock: respx.MockRouter,
) -> None:
    clock = FakeClock()
    robot = FakeRobot(clock)
    robot.foreign = [clock.now() - 1] * 20  # another program just used the whole minute
    respx_mock.post(DINGTALK_API_URL).mock(side_effect=robot)
    async with relay_factory(CONFIG, clock=clock) as relay:
        relay.state.dispatcher.limiters = fake_time_limiters(clock)
        for payload in storm(5, big_every=0):
            await relay.post(payload)
        await relay.flush()
        start = clock.now()
        await run_dispatcher_once(relay)
        jobs = await relay.jobs()
        assert robot.throttled == [start]  # the first one was refused...
        assert robot.accepted[0] >= start + 600  # ...and the robot rested 10 minutes
        [first] = [j for j in jobs if j.attempts[0].reason != "ok"]
        assert first.attempts[0].reason == "errcode_130101"
        assert first.next_attempt_at is not None and first.next_attempt_at >= start + 600
        clock.set(first.next_attempt_at)
        await run_dispatcher_once(relay)
        assert all(j.status == "delivered" for j in await relay.jobs())
    assert len(robot.throttled) == 1 and len(robot.accepted) == 5


def test_the_fake_robot_refuses_the_21st_message_of_a_minute() -> None:
    """The storm test would see a 130101 if relay went over: the fake does enforce it."""
    clock = FakeClock()
    robot = FakeRobot(clock)
    url = f"{DINGTALK_API_URL}?access_token={TOKEN}"
    answers = []
    for _ in range(21):
        stamp = str(int(clock.now() * 1000))
        request = httpx.Request(
            "POST", f"{url}&timestamp={stamp}&sign={independent_sign(SECRET, stamp)}", content=b"{}"
        )
        answers.append(robot(request).json()["errcode"])
        clock.advance(2.0)
    assert answers == [0] * 20 + [130101]
    assert robot.blocked_until == clock.now() - 2.0 + 600
