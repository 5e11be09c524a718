"""Per-destination rate limiters. Channels declare limits; the dispatcher waits on them."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    async def acquire(self, count: int = 1) -> None:
        """Wait until ``count`` more messages may go to this destination."""
        ...


class SlidingWindowLimiter:
    """At most ``limit`` messages in any ``window`` seconds (exact, unlike a token bucket:
    WeCom counts 20 per rolling minute and answers 45009 past it)."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._monotonic = monotonic
        self._sleep = sleep

    def delay(self, count: int = 1) -> float:
        """Seconds until ``count`` slots are free (0 if they are free now)."""
        count = max(1, min(count, self.limit))  # a longer burst waits for a whole window
        now = self._monotonic()
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if len(self._sent) + count <= self.limit:
            return 0.0
        return self._sent[len(self._sent) + count - self.limit - 1] + self.window - now

    async def acquire(self, count: int = 1) -> None:
        async with self._lock:  # one waiter at a time keeps the order of arrival
            while (wait := self.delay(count)) > 0:
                await self._sleep(wait)  # type: ignore[misc]
            now = self._monotonic()
            self._sent.extend([now] * max(1, min(count, self.limit)))


class Unlimited:
    async def acquire(self, count: int = 1) -> None:
        return None


class LimiterRegistry:
    """Limiters by destination key; kept across config reloads so a reload cannot reset them."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, float], SlidingWindowLimiter] = {}
        self._unlimited = Unlimited()

    def get(self, key: str | None, per_minute: float | None) -> RateLimiter:
        if key is None or not per_minute:
            return self._unlimited
        limiter = self._limiters.get((key, per_minute))
        if limiter is None:
            # A fractional rate (0.5/min) becomes 1 per 2 minutes.
            limit, window = (int(per_minute), 60.0) if per_minute >= 1 else (1, 60.0 / per_minute)
            limiter = self._limiters[(key, per_minute)] = SlidingWindowLimiter(limit, window)
        return limiter
