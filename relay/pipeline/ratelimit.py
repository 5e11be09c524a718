"""Per-destination rate limiters. Channels declare limits; the dispatcher waits on them.

A destination (one WeCom robot, one Telegram chat) has one limiter, shared by every
notifier that talks to it and by every part and ping of a split message. It enforces all
of the channel's windows at once (Feishu: 5 per second and 100 per minute) exactly, as a
sliding window, because vendors count that way and block past it (DingTalk blocks a
robot for 10 minutes). When the vendor still answers "too many" (another sender shares
the robot), :meth:`DestinationLimiter.block` holds every message to it for the time the
vendor asks, or the channel's block time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from relay.core.rates import Rate


class RateLimiter(Protocol):
    async def acquire(self) -> None:
        """Wait until one more message may go to this destination, and take its place.
        A split message takes one place per part (relay.pipeline.ratelimit.DeliveryPace):
        places are never taken in bulk, so a burst cannot pass a window's edge."""
        ...

    def block(self, seconds: float) -> None:
        """Send nothing to this destination for ``seconds`` (the vendor throttled it)."""
        ...

    def sent(self) -> None:
        """The message whose place was taken last was answered (its window starts now)."""
        ...

    def admits(self, within: float, most: int) -> int:
        """How many messages could go in the next ``within`` seconds (at most ``most``)."""
        ...


class SlidingWindowLimiter:
    """At most ``limit`` messages in any ``window`` seconds (exact, unlike a token bucket:
    WeCom counts 20 per rolling minute and answers 45009 past it)."""

    def __init__(
        self, limit: int, window: float = 60.0, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()
        self._monotonic = monotonic

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    def delay(self) -> float:
        """Seconds until a place is free (0 if one is free now)."""
        now = self._monotonic()
        self._expire(now)
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[len(self._sent) - self.limit] + self.window - now

    def take(self) -> None:
        self._sent.append(self._monotonic())

    def used(self) -> int:
        self._expire(self._monotonic())
        return len(self._sent)

    def restamp(self) -> None:
        """Move the latest send to now (it has just been answered)."""
        if self._sent:
            self._sent.pop()
            self._sent.append(self._monotonic())


class DestinationLimiter:
    """Every window of one destination, plus a block after a throttle answer."""

    def __init__(
        self,
        rates: Sequence[Rate],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if not rates:
            raise ValueError("a limiter needs at least one rate")
        self.rates = tuple(rates)
        self._windows = [SlidingWindowLimiter(r.count, r.per, monotonic=monotonic) for r in rates]
        self._monotonic = monotonic
        self._sleep = sleep
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until the next message may go (0 if now)."""
        blocked = max(0.0, self._blocked_until - self._monotonic())
        return max([blocked, *(w.delay() for w in self._windows)])

    async def acquire(self) -> None:
        async with self._lock:  # one waiter at a time keeps the order of arrival
            while (wait := self.delay()) > 0:
                await self._sleep(wait)  # type: ignore[misc]
            for window in self._windows:
                window.take()

    def block(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self._monotonic() + max(0.0, seconds))

    def sent(self) -> None:
        """The message whose place was taken last was answered: count it from now.

        The vendor's window starts when it received a message, somewhere between the
        acquire and the answer; a message that took longer on the way than the one a
        window later would otherwise be counted by the vendor in both windows."""
        for window in self._windows:
            window.restamp()

    def admits(self, within: float, most: int) -> int:
        """How many messages every window (and a block) lets go in the next ``within``
        seconds, counting up to ``most``: what decides whether a backlog is a storm."""
        now = self._monotonic()
        horizon = now + within
        sent = [deque(w._sent) for w in self._windows]
        at = max(now, self._blocked_until)
        count = 0
        while count < most:
            # A window that is full frees a slot when its oldest counted send expires;
            # once free at some time it stays free later, so the latest of them is it.
            for window, times in zip(self._windows, sent, strict=True):
                while times and times[0] <= at - window.window:
                    times.popleft()
                if len(times) >= window.limit:
                    at = max(at, times[len(times) - window.limit] + window.window)
            if at >= horizon:  # a slot that frees at the horizon is not in the next `within`
                break
            for times in sent:
                times.append(at)
            count += 1
        return count

    def state(self) -> dict[str, Any]:
        """For the console: what was sent in each window and when the next slot is free."""
        return {
            "windows": [
                {"limit": r.count, "per_seconds": r.per, "used": w.used()}
                for r, w in zip(self.rates, self._windows, strict=True)
            ],
            "next_free_in": round(self.delay(), 3),
            "blocked_for": round(max(0.0, self._blocked_until - self._monotonic()), 3),
        }


class Unlimited:
    async def acquire(self) -> None:
        return None

    def block(self, seconds: float) -> None:
        return None

    def sent(self) -> None:
        return None

    def admits(self, within: float, most: int) -> int:
        return most


class DeliveryPace:
    """One delivery attempt's pace (relay.core.rates.Pace): the dispatcher takes the
    first message's place before the notifier starts, so a notifier that posts once
    needs nothing more; each further part of a split message waits for a place of its
    own. The attempt's hard timeout (``deadline``) counts from the latest place taken:
    waiting for the destination's limit is not the notifier hanging."""

    def __init__(self, limiter: RateLimiter, hard_timeout: float) -> None:
        self._limiter = limiter
        self._hard_timeout = hard_timeout
        self._first_taken = True
        self.deadline: asyncio.Timeout | None = None
        #: Messages answered: 0 after a notifier that does not pace itself.
        self.answers = 0

    async def next(self) -> None:
        if self._first_taken:
            self._first_taken = False
            return
        await self._limiter.acquire()
        if self.deadline is not None:
            self.deadline.reschedule(asyncio.get_running_loop().time() + self._hard_timeout)

    def answered(self) -> None:
        self.answers += 1
        self._limiter.sent()


class LimiterRegistry:
    """Limiters by destination key; kept across config reloads so a reload cannot reset them."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self._limiters: dict[tuple[str, tuple[Rate, ...]], DestinationLimiter] = {}
        self._unlimited = Unlimited()
        self._monotonic = monotonic
        self._sleep = sleep

    def get(self, key: str | None, rates: Sequence[Rate]) -> RateLimiter:
        if key is None or not rates:
            return self._unlimited
        index = (key, tuple(rates))
        limiter = self._limiters.get(index)
        if limiter is None:
            limiter = self._limiters[index] = DestinationLimiter(
                rates, monotonic=self._monotonic, sleep=self._sleep
            )
        return limiter

    def state(self, key: str) -> dict[str, Any] | None:
        """The state of ``key``'s limiter (its latest rates), or None before its first use."""
        found = [limiter for (k, _), limiter in self._limiters.items() if k == key]
        return found[-1].state() if found else None
