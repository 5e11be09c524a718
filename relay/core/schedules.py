"""Who is on call: rotations handing off in a time zone, layers, overrides. Pure functions
of a schedule and an instant, so the console, the API, the calendar feed and escalation
steps all answer the same.

A rotation hands off at wall-clock times of its zone: ``start``, ``start + shift``,
``start + 2 * shift``, ... (a shift of ``1d`` starting at 10:00 hands off at 10:00 every
day, in summer and in winter). Shift ``k`` belongs to ``people[k % len(people)]``; before
``start`` the rotation has nobody. A hand-off at a wall time the zone skips (the hour lost
in spring) happens as if the clock had not moved (02:30 becomes 03:30); at a wall time the
zone repeats (autumn), at its first occurrence.

Layers: where several rotations have someone, the later one in the list wins, if its
``active`` time intervals are in force at that moment. Overrides win over every rotation;
of two that cover one moment, the later in the list.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from relay.core.timeintervals import TimeIntervalSpec, in_force, next_change

#: How far ahead next_change of an active time interval is looked for at most.
_HORIZON = 400 * 86400.0


@dataclass(frozen=True)
class Rotation:
    people: tuple[str, ...]
    start: datetime  # naive: wall time in the schedule's zone
    shift: timedelta  # of wall-clock time
    #: When this layer applies; None: always.
    active: tuple[TimeIntervalSpec, ...] | None = None


@dataclass(frozen=True)
class Override:
    person: str
    start: float  # unix seconds
    end: float
    by: str = "config"  # who made it: "config" for the file, else a name
    id: str = ""


@dataclass(frozen=True)
class Schedule:
    name: str
    zone: str
    rotations: tuple[Rotation, ...]
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Shift:
    """A stretch of time with one person (or nobody) on call, and why."""

    person: str | None
    start: float
    end: float
    source: str  # "rotation 1" (1-based), "override by <name>", "" for nobody


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> float:
    """Unix seconds of a wall time in ``zone`` (see the module's rule for gaps and folds)."""
    return wall.replace(tzinfo=zone, fold=0).timestamp()


def hand_off(rotation: Rotation, zone: ZoneInfo, index: int) -> float:
    """The instant shift ``index`` of ``rotation`` begins."""
    return wall_to_instant(rotation.start + rotation.shift * index, zone)


def shift_index(rotation: Rotation, zone: ZoneInfo, at: float) -> int:
    """The shift of ``rotation`` at ``at`` (negative before its start)."""
    wall = datetime.fromtimestamp(at, zone).replace(tzinfo=None)
    index = math.floor((wall - rotation.start) / rotation.shift)
    # The wall-time estimate can be off by one around a DST change: settle on instants.
    while hand_off(rotation, zone, index + 1) <= at:
        index += 1
    while hand_off(rotation, zone, index) > at:
        index -= 1
    return index


def rotation_person(rotation: Rotation, zone: ZoneInfo, at: float) -> str | None:
    """Who ``rotation`` has on call at ``at`` (its layer's ``active`` aside)."""
    if not rotation.people:
        return None
    index = shift_index(rotation, zone, at)
    if index < 0:
        return None
    return rotation.people[index % len(rotation.people)]


def on_call(schedule: Schedule, at: float) -> tuple[str | None, str]:
    """(person, why) at ``at``; (None, "") when nobody is."""
    for override in reversed(schedule.overrides):
        if override.start <= at < override.end:
            return override.person, f"override by {override.by}"
    zone = ZoneInfo(schedule.zone)
    for number in range(len(schedule.rotations), 0, -1):
        rotation = schedule.rotations[number - 1]
        if rotation.active is not None and not in_force(rotation.active, at):
            continue
        person = rotation_person(rotation, zone, at)
        if person is not None:
            return person, f"rotation {number}"
    return None, ""


def shifts(schedule: Schedule, start: float, end: float) -> list[Shift]:
    """Who is on call from ``start`` to ``end``, as contiguous stretches (adjacent
    stretches with the same person and source merged)."""
    if end <= start:
        return []
    points = sorted({start, end, *(p for p in _changes(schedule, start, end) if start < p < end)})
    found: list[Shift] = []
    for begin, finish in itertools.pairwise(points):
        person, source = on_call(schedule, begin)
        if found and found[-1].person == person and found[-1].source == source:
            found[-1] = Shift(person, found[-1].start, finish, source)
        else:
            found.append(Shift(person, begin, finish, source))
    return found


def next_hand_offs(schedule: Schedule, at: float, count: int, within: float = 90 * 86400.0) -> list[Shift]:
    """The next ``count`` stretches after the one in force at ``at`` (within ``within``)."""
    ahead = shifts(schedule, at, at + within)
    return ahead[1 : 1 + count]


def _changes(schedule: Schedule, start: float, end: float) -> list[float]:
    """Every instant in [start, end] where who is on call may change."""
    points: list[float] = []
    for override in schedule.overrides:
        points += [override.start, override.end]
    zone = ZoneInfo(schedule.zone)
    for rotation in schedule.rotations:
        index = max(0, shift_index(rotation, zone, start))
        while (moment := hand_off(rotation, zone, index)) <= end:
            points.append(moment)
            index += 1
        if rotation.active is not None:
            points += _interval_changes(rotation.active, start, end)
    return points


def _interval_changes(specs: Sequence[TimeIntervalSpec], start: float, end: float) -> list[float]:
    points: list[float] = []
    at = start
    while at < end:
        change = next_change(specs, at)
        if change is None or change > min(end, at + _HORIZON) or change <= at:
            break
        points.append(change)
        at = change
    return points
