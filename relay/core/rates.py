"""What a destination admits: a channel declares its vendor's limits as Rates, and the
dispatcher's limiters (relay.pipeline.ratelimit) enforce them."""

from __future__ import annotations

from dataclasses import dataclass


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
