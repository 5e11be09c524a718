"""A storm of notifications into one rate-limited destination, through the real
dispatcher, in virtual time: the destination's limiter sleeps on a virtual clock, and a
vendor fake that enforces the vendor's limits on the same clock answers its throttle
error past them. Nothing waits for real seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from relay.pipeline.ratelimit import LimiterRegistry
from tests.helpers.webhooks import alert, webhook


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class EnforcingVendor:
    """Answers ``ok()`` while every window holds, ``throttled(wait)`` past one; an
    independent sliding window: at most ``count`` requests in any ``per`` seconds."""

    def __init__(
        self,
        time: VirtualTime,
        limits: Sequence[tuple[int, float]],
        ok: Callable[[httpx.Request], httpx.Response],
        throttled: Callable[[float], httpx.Response],
    ) -> None:
        self.time = time
        self.limits = limits
        self.ok = ok
        self.throttled = throttled
        self.accepted: list[float] = []
        self.refused: list[float] = []
        self.bodies: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.time.now
        for count, per in self.limits:
            recent = [t for t in self.accepted if t > now - per]
            if len(recent) >= count:
                self.refused.append(now)
                return self.throttled(recent[-count] + per - now)
        self.accepted.append(now)
        self.bodies.append(request.content)
        return self.ok(request)


async def storm(relay: Any, time: VirtualTime, count: int = 100) -> None:
    """``count`` notifications of distinct groups into the relay, each delivered once
    through its dispatcher (the limiter waits in virtual time)."""
    relay.state.dispatcher.limiters = LimiterRegistry(monotonic=time.monotonic, sleep=time.sleep)
    for i in range(count):
        name = f"Storm{i:03d}"
        response = await relay.post(webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}'))
        assert response.status_code == 200, response.text
    while await relay.deliver_all():
        relay.clock.set(max(relay.clock.now(), 1_800_000_000.0 + time.now) + 3600)
