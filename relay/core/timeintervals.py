"""Alertmanager's time intervals (its ``timeinterval`` package), and when they change.

A time interval is a list of specs; a spec matches an instant when every field it sets
matches the instant's wall clock in the spec's ``location`` (UTC when unset):

* ``times``: ``start_time``..``end_time`` as ``HH:MM``, the end excluded, ``24:00`` allowed;
* ``weekdays``: ``monday`` or ``monday:friday`` (Sunday first, ranges never wrap);
* ``days_of_month``: ``1``, ``1:15``, ``-3:-1`` (negative counts from the month's end,
  ``-1`` is its last day); a range is clamped to the month;
* ``months``: ``january:march`` or ``1:3``; ``years``: ``2024:2026``.

The parsers raise ValueError with Alertmanager's checks, in words that say what to
write instead. Everything here is pure: the instant is handed in (unix seconds).
"""

from __future__ import annotations

import calendar
import heapq
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_TIME = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
MINUTES_PER_DAY = 1440
#: How far ahead :func:`next_change` looks; a change further away is reported as None.
HORIZON_DAYS = 400


@dataclass(frozen=True)
class TimeRange:
    """Minutes of the day, ``start`` included, ``end`` excluded (0..1440)."""

    start: int
    end: int


@dataclass(frozen=True)
class InclusiveRange:
    begin: int
    end: int


@dataclass(frozen=True)
class TimeIntervalSpec:
    """One entry of a named interval's ``time_intervals``; None leaves a field free."""

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[InclusiveRange, ...] | None = None  # 0 = Sunday
    days_of_month: tuple[InclusiveRange, ...] | None = None
    months: tuple[InclusiveRange, ...] | None = None  # 1 = January
    years: tuple[InclusiveRange, ...] | None = None
    location: str | None = None  # an IANA zone name; None is UTC

    @property
    def zone(self) -> tzinfo:
        return zoneinfo.ZoneInfo(self.location) if self.location else UTC

    def contains(self, when: float) -> bool:
        """Alertmanager's ``TimeInterval.ContainsTime``."""
        local = datetime.fromtimestamp(when, self.zone)
        minute = local.hour * 60 + local.minute
        if self.times is not None and not any(r.start <= minute < r.end for r in self.times):
            return False
        return self.day_matches(local.date())

    def day_matches(self, day: date) -> bool:
        """Every field but ``times``: they depend on the local date only."""
        if self.days_of_month is not None and not any(_day_of_month_in(day, r) for r in self.days_of_month):
            return False
        if self.months is not None and not any(r.begin <= day.month <= r.end for r in self.months):
            return False
        weekday = day.isoweekday() % 7  # Sunday 0, as Go's time.Weekday
        if self.weekdays is not None and not any(r.begin <= weekday <= r.end for r in self.weekdays):
            return False
        return self.years is None or any(r.begin <= day.year <= r.end for r in self.years)

    def boundaries(self) -> list[int]:
        """Minutes of a local day at which this spec can start or stop matching."""
        minutes = {0}
        for r in self.times or ():
            minutes.update((r.start, r.end))
        return sorted(m for m in minutes if m < MINUTES_PER_DAY)


def _day_of_month_in(day: date, r: InclusiveRange) -> bool:
    days = calendar.monthrange(day.year, day.month)[1]
    begin = days + r.begin + 1 if r.begin < 0 else r.begin
    end = days + r.end + 1 if r.end < 0 else r.end
    if begin > days:  # e.g. 30:31 in February: no day of this month
        return False
    begin = max(-days, min(begin, days))
    end = max(-days, min(end, days))
    return begin <= day.day <= end


# -- the union of specs: a named interval, or every interval a route names -----------------


def in_force(specs: Iterable[TimeIntervalSpec], when: float) -> bool:
    return any(spec.contains(when) for spec in specs)


def next_change(specs: Sequence[TimeIntervalSpec], when: float) -> float | None:
    """The first instant after ``when`` at which ``in_force(specs, ...)`` differs from
    its value at ``when``; None when that is more than HORIZON_DAYS away.

    Whether a spec matches depends only on its location's wall clock, so it changes only
    where that clock reaches a boundary minute (a ``times`` edge or midnight: both
    readings of a time DST repeats) or jumps (the instant the UTC offset changes). Those
    instants are tried in order; the first with the other state is the change.
    """
    if not specs:
        return None
    state = in_force(specs, when)
    for candidate in _candidates(specs, when):
        if in_force(specs, candidate) != state:
            return candidate
    return None


def _candidates(specs: Sequence[TimeIntervalSpec], when: float) -> Iterable[float]:
    """Instants after ``when`` where a boundary minute begins in some location, in order."""
    minutes = sorted({m for spec in specs for m in spec.boundaries()})
    zones = {spec.location: spec.zone for spec in specs}.values()
    previous = when
    for instant in heapq.merge(*(_zone_candidates(zone, minutes, when) for zone in zones)):
        if instant > previous:
            previous = instant
            yield instant


def _zone_candidates(zone: tzinfo, minutes: list[int], when: float) -> Iterable[float]:
    """One location's boundary instants, day by day (each day's all before the next's)."""
    first = datetime.fromtimestamp(when, zone).date()
    pending: list[float] = []
    for offset in range(-1, HORIZON_DAYS + 1):
        day = first + timedelta(days=offset)
        found: set[float] = set()
        for minute in minutes:
            wall = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)
            # Both readings of a wall-clock time that DST repeats or skips.
            found.update(wall.replace(fold=fold).timestamp() for fold in (0, 1))
        # A clock set back passes no boundary in a forward direction, yet can re-enter a
        # range (01:59 -> 01:00): the instant of every offset change is a candidate too.
        found.update(_offset_changes(zone, day))
        # A DST change at midnight can put a day's first reading before the previous
        # day's last: hold back what may still be overtaken.
        pending = sorted([*pending, *found])
        cut = min(found)
        yield from (t for t in pending if t < cut)
        pending = [t for t in pending if t >= cut]
    yield from pending


def _offset_changes(zone: tzinfo, day: date) -> list[float]:
    """The instant the zone's UTC offset changes within the local ``day``, if it does."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
    end = start + 86400 + 3 * 3600  # past the end of the longest day
    if _offset(zone, start) == _offset(zone, end):
        return []
    low, high = int(start), int(end)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, middle) == _offset(zone, start):
            low = middle
        else:
            high = middle
    return [float(high)]


def _offset(zone: tzinfo, when: float) -> timedelta | None:
    return datetime.fromtimestamp(when, zone).utcoffset()


# -- parsing (Alertmanager's UnmarshalYAML checks) --------------------------------------


def parse_time(text: str) -> int:
    """``HH:MM`` -> minutes of the day; ``24:00`` is 1440."""
    match = _TIME.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time: write HH:MM, from 00:00 to 24:00")
    hours, minutes = (match.group(1), match.group(2)) if match.group(1) else ("24", "00")
    return int(hours) * 60 + int(minutes)


def parse_time_range(start_time: str, end_time: str) -> TimeRange:
    start, end = parse_time(start_time), parse_time(end_time)
    if start >= end:
        raise ValueError(
            f"start_time {start_time} must be before end_time {end_time} (a range cannot "
            "cross midnight: write two ranges, e.g. 22:00-24:00 and 00:00-06:00)"
        )
    return TimeRange(start, end)


def _split(text: str, what: str) -> tuple[str, str]:
    lowered = text.lower()
    parts = lowered.split(":")
    if len(parts) == 1:
        return lowered, lowered
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a {what} or a range of them (write a or a:b)")
    return parts[0], parts[1]


def parse_weekday_range(text: str) -> InclusiveRange:
    first, last = _split(text, "weekday")
    days = []
    for name in (first, last):
        if name not in WEEKDAYS:
            raise ValueError(f"{name!r} is not a weekday (write one of {', '.join(WEEKDAYS)})")
        days.append(WEEKDAYS.index(name))
    if days[0] > days[1]:
        raise ValueError(
            f"{text!r}: the week starts on sunday and a range cannot wrap past saturday "
            f"(write two ranges, e.g. {first}:saturday and sunday:{last})"
        )
    return InclusiveRange(days[0], days[1])


def parse_day_of_month_range(text: str) -> InclusiveRange:
    first, last = _split(text, "day of the month")
    values = []
    for part in (first, last):
        if not _INTEGER.match(part):
            raise ValueError(f"{part!r} is not a day of the month (write 1 to 31, or -1 to -31)")
        value = int(part)
        if value == 0 or not -31 <= value <= 31:
            raise ValueError(
                f"{value} is not a day of the month: write 1 to 31, or -31 to -1 counted from the month's end"
            )
        values.append(value)
    begin, end = values
    if begin < 0 < end:
        raise ValueError(f"{text!r}: the end day must be negative when the start day is")
    # With negatives the month's length matters; 28 days catches the ranges always empty.
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise ValueError(f"{text!r}: end day {end} is always before start day {begin}")
    return InclusiveRange(begin, end)


def parse_month_range(text: str) -> InclusiveRange:
    first, last = _split(text, "month")
    values = []
    for part in (first, last):
        if part in MONTHS:
            values.append(MONTHS.index(part) + 1)
        elif _INTEGER.match(part) and 1 <= int(part) <= 12:
            values.append(int(part))
        else:
            raise ValueError(f"{part!r} is not a month (write january to december, or 1 to 12)")
    if values[0] > values[1]:
        raise ValueError(
            f"{text!r}: end month {MONTHS[values[1] - 1]} is before start month "
            f"{MONTHS[values[0] - 1]} (a range cannot wrap past december: write two ranges)"
        )
    return InclusiveRange(values[0], values[1])


def parse_year_range(text: str) -> InclusiveRange:
    first, last = _split(text, "year")
    for part in (first, last):
        if not _INTEGER.match(part):
            raise ValueError(f"{part!r} is not a year (write e.g. 2025 or 2025:2027)")
    begin, end = int(first), int(last)
    if begin > end:
        raise ValueError(f"{text!r}: end year {end} is before start year {begin}")
    return InclusiveRange(begin, end)


def parse_location(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown IANA time zone {name!r} (e.g. UTC, Asia/Shanghai, Europe/Berlin)"
        ) from None
    return name
