"""What a route's time intervals say at an instant: send, drop, or hold.

Alertmanager's order: a route outside all of its ``active_time_intervals`` sends
nothing (TimeActiveStage), then one inside any of its ``mute_time_intervals`` sends
nothing (TimeMuteStage). Both act before dedup, so the notification log does not
change and what still fires is notified at the first decision after the window.
relay's ``hold_time_intervals`` come last: the notification is decided (the log moves
on) but kept, and sent as a digest plus a fresh notification when the window ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from relay.core.timeintervals import TimeIntervalSpec, in_force, next_change
from relay.pipeline.routing import Route

Intervals = Mapping[str, Sequence[TimeIntervalSpec]]
Gate = Literal["send", "inactive", "muted", "held"]
IntervalKind = Literal["active", "mute", "hold"]


@dataclass(frozen=True)
class TimeGate:
    """What the route's time intervals say at the decision."""

    gate: Gate = "send"
    hold_until: float | None = None  # with "held": when the window ends


SEND = TimeGate()


def gate_at(route: Route, intervals: Intervals, now: float) -> TimeGate:
    """What the route's time intervals say at ``now``, with when a hold ends."""
    gate = route_gate(route, intervals, now)
    if gate != "held":
        return TimeGate(gate)
    return TimeGate(gate, hold_ends_at(route, intervals, now))


def names_in_force(names: Sequence[str], intervals: Intervals, now: float) -> tuple[str, ...]:
    """The named intervals that contain ``now`` (Alertmanager's Intervener.Mutes)."""
    return tuple(name for name in names if in_force(intervals.get(name, ()), now))


def union(names: Sequence[str], intervals: Intervals) -> list[TimeIntervalSpec]:
    return [spec for name in names for spec in intervals.get(name, ())]


def route_gate(route: Route, intervals: Intervals, now: float) -> Gate:
    active = route.active_time_intervals
    if active and not names_in_force(active, intervals, now):
        return "inactive"
    if names_in_force(route.mute_time_intervals, intervals, now):
        return "muted"
    if names_in_force(route.hold_time_intervals, intervals, now):
        return "held"
    return "send"


def hold_ends_at(route: Route, intervals: Intervals, now: float) -> float | None:
    """When the route's hold window in force at ``now`` ends; None if none is in force
    or it does not end within the search horizon."""
    specs = union(route.hold_time_intervals, intervals)
    if not in_force(specs, now):
        return None
    return next_change(specs, now)


@dataclass(frozen=True)
class IntervalState:
    """One kind of a route's intervals at an instant, for ``relay routes test``."""

    kind: IntervalKind
    names: tuple[str, ...]  # as configured on the route
    in_force: tuple[str, ...]  # those containing the instant
    changes_at: float | None  # when the union next starts or stops containing the time

    @property
    def code(self) -> str:
        """What the route does because of this kind: active, inactive, muted, not_muted,
        held or not_held (the console words it in its own language)."""
        if self.kind == "active":
            return "active" if self.in_force else "inactive"
        prefix = "" if self.in_force else "not_"
        return prefix + ("muted" if self.kind == "mute" else "held")

    @property
    def effect(self) -> str:
        """:attr:`code` in words."""
        return _EFFECT_WORDS[self.code]


_EFFECT_WORDS = {
    "active": "active",
    "inactive": "inactive: nothing is sent",
    "muted": "muted: nothing is sent",
    "not_muted": "nothing muted",
    "held": "held for a digest",
    "not_held": "nothing held",
}


def interval_states(route: Route, intervals: Intervals, now: float) -> list[IntervalState]:
    """The state of each kind of interval the route names (kinds it names none of are left
    out)."""
    out = []
    kinds: list[tuple[IntervalKind, tuple[str, ...]]] = [
        ("active", route.active_time_intervals),
        ("mute", route.mute_time_intervals),
        ("hold", route.hold_time_intervals),
    ]
    for kind, names in kinds:
        if names:
            out.append(
                IntervalState(
                    kind,
                    names,
                    names_in_force(names, intervals, now),
                    next_change(union(names, intervals), now),
                )
            )
    return out
