"""What a destination admits: a channel declares its vendor's limits as Rates, and the
dispatcher's limiters (relay.pipeline.ratelimit) enforce them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rate:
    """At most ``count`` messages in any ``per`` seconds, to one destination."""

    count: int
    per: float

    @classmethod
    def per_minute(cls, value: float) -> Rate:
        """A ``rate_limit_per_minute`` setting; a fractional one (0.5) is 1 per 2 minutes."""
        return cls(int(value), 60.0) if value >= 1 else cls(1, 60.0 / value)

    def describe(self) -> str:
        return f"{self.count}/{self.per:g}s"


class Pace(Protocol):
    """The destination's pace, as one delivery attempt sees it: every message it posts
    (each part of a split message) waits for its own place in the destination's limit."""

    async def next(self) -> None:
        """Wait until the next message may go."""
        ...

    def answered(self) -> None:
        """The message posted last was answered (the vendor counts it from about now)."""
        ...


class Unpaced:
    """No limit: one-off sends (``relay test-alert``) and previews."""

    async def next(self) -> None:
        return None

    def answered(self) -> None:
        return None


#: The pace of a message nobody limits.
UNPACED = Unpaced()
