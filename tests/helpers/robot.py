"""A WeCom robot fake that enforces WeCom's rate on the fake clock, and how to run webhooks
through the real dispatcher to it in virtual time (tests/test_storm.py, tests/test_burst.py):
waiting for the rate limiter moves the fake clock, so nothing waits for real seconds."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import httpx
import respx

from relay.core.clock import FakeClock
from relay.pipeline.ratelimit import LimiterRegistry

ROBOT = "https://robot.example.com/cgi-bin/webhook/send?key=storm"
#: One receiver with one WeCom robot integration; a test appends the robot's own keys
#: (``storm:``) at its indentation.
ROBOT_CONFIG = f"""
route:
  receiver: oncall
receivers:
  - name: oncall
    wecom_configs:
      - webhook_url: {ROBOT}
"""


class RobotFake:
    """A WeCom robot: 20 messages per rolling minute (on the fake clock), errcode 45009
    past it, as WeCom does."""

    def __init__(self, clock: FakeClock, limit: int = 20, window: float = 60.0) -> None:
        self.clock, self.limit, self.window = clock, limit, window
        self.accepted: deque[float] = deque()
        self.contents: list[str] = []
        self.throttled = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.clock.now()
        while self.accepted and self.accepted[0] <= now - self.window:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            self.throttled += 1
            return httpx.Response(200, json={"errcode": 45009, "errmsg": "api freq out of limit"})
        self.accepted.append(now)
        body = json.loads(request.content)
        self.contents.append(body[body["msgtype"]]["content"])
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})


async def deliver_everything(relay: Any) -> None:
    dispatcher = relay.state.dispatcher
    for _ in range(10_000):
        await dispatcher.run_once()
        await dispatcher.settle()
        counts = await relay.state.store.job_counts()
        if counts["pending"] == 0 and counts["running"] == 0:
            return
        due = [j.next_attempt_at for j in await relay.state.store.list_jobs("pending", 1000)]
        if due and min(due) > relay.clock.now():
            relay.clock.set(min(due))
    raise AssertionError("jobs left undelivered")


def use_fake_time(relay: Any) -> None:
    async def sleep(seconds: float) -> None:
        relay.clock.advance(seconds)  # waiting for the rate limit moves the fake clock
        await asyncio.sleep(0)

    relay.state.dispatcher.limiters = LimiterRegistry(monotonic=relay.clock.now, sleep=sleep)


async def arrive(relay: Any, payloads: list[dict[str, Any]], every: float) -> None:
    """Alertmanager's webhooks, one every ``every`` seconds, each dispatched as it comes."""
    dispatcher = relay.state.dispatcher
    for payload in payloads:
        assert (await relay.post(payload)).status_code == 200
        await dispatcher.run_once()
        await dispatcher.settle()
        relay.clock.advance(every)


async def through_robot(relay: Any, payloads: list[dict[str, Any]], every: float = 0.0) -> RobotFake:
    """``payloads`` into ``relay`` (one every ``every`` seconds; all at once when 0),
    everything delivered to a robot fake on the fake clock; returns the robot."""
    use_fake_time(relay)
    with respx.mock(assert_all_called=False) as mock:
        robot = RobotFake(relay.clock)
        mock.post(ROBOT).mock(side_effect=robot)
        if every:
            await arrive(relay, payloads, every)
        else:
            for payload in payloads:
                assert (await relay.post(payload)).status_code == 200
        await deliver_everything(relay)
    return robot
