"""Who is on call, as the API (``GET /api/v1/oncall``), the console and ``relay oncall``
show it: per schedule, the person now, since and until when, and the next hand-offs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from relay.config import Config
from relay.core.schedules import Override, Schedule, Shift, shifts

#: How far ahead "until" and the next hand-offs are looked for.
LOOK_AHEAD = 90 * 86400.0
LOOK_BACK = 90 * 86400.0


def overrides_by_schedule(kept: list[dict[str, Any]]) -> dict[str, tuple[Override, ...]]:
    """Overrides made at run time, as the store keeps them, by schedule, oldest first
    (a later one wins)."""
    found: dict[str, list[Override]] = {}
    for entry in kept:
        found.setdefault(str(entry["schedule"]), []).append(
            Override(
                str(entry["person"]),
                float(entry["start"]),
                float(entry["end"]),
                by=str(entry.get("by") or "?"),
                id=str(entry["id"]),
            )
        )
    return {name: tuple(overrides) for name, overrides in found.items()}


class UnknownSchedule(LookupError):
    """A schedule name the config does not have."""


def oncall_view(
    config: Config,
    at: float,
    *,
    schedule: str | None = None,
    upcoming: int = 3,
    runtime: dict[str, tuple[Override, ...]] | None = None,
) -> dict[str, Any]:
    """Every schedule (or ``schedule`` only) at ``at``. ``runtime``: overrides made
    through the API, by schedule."""
    names = [s.name for s in config.schedules]
    if schedule is not None and schedule not in names:
        raise UnknownSchedule(f"unknown schedule {schedule!r} (known: {', '.join(names) or 'none'})")
    found = []
    for name in [schedule] if schedule is not None else names:
        model = config.schedule(name, (runtime or {}).get(name, ()))
        assert model is not None
        zone = ZoneInfo(model.zone)
        # One stretch more than shown: the last one of a window ends at the window's edge.
        ahead = _ahead(model, at, upcoming + 2)
        current = Shift(ahead[0].person, _since(model, at), ahead[0].end, ahead[0].source)
        found.append(
            {
                "name": name,
                "time_zone": model.zone,
                "now": _shift(config, current, zone, at - LOOK_BACK, at + LOOK_AHEAD),
                "next": [_shift(config, s, zone, None, at + LOOK_AHEAD) for s in ahead[1 : 1 + upcoming]],
            }
        )
    return {"at": at, "schedules": found}


#: Windows looked at in turn: a schedule with hourly shifts needs only the first, one
#: with weekly shifts the second; the console polls this every few seconds.
_WINDOWS = (2 * 86400.0, 21 * 86400.0, LOOK_AHEAD)


def _ahead(model: Schedule, at: float, count: int) -> list[Shift]:
    """At least ``count`` stretches from ``at`` (fewer when none change within LOOK_AHEAD)."""
    for window in _WINDOWS:
        found = shifts(model, at, at + window)
        if len(found) >= count:
            return found
    return found


def _since(model: Schedule, at: float) -> float:
    """When the stretch in force at ``at`` began (``at - LOOK_BACK`` at the most)."""
    for window in (*_WINDOWS[:-1], LOOK_BACK):
        behind = shifts(model, at - window, at + 1)
        if behind[-1].start > at - window:
            return behind[-1].start
    return at - LOOK_BACK


def _shift(
    config: Config, shift: Shift, zone: ZoneInfo, floor: float | None, ceiling: float
) -> dict[str, Any]:
    person = config.person(shift.person) if shift.person else None
    start = None if floor is not None and shift.start <= floor else shift.start
    end = None if shift.end >= ceiling else shift.end
    return {
        "person": shift.person,
        "display_name": person.shown if person is not None else shift.person,
        "source": shift.source,
        # The same, for a page to word in its language: the rotation's number, or who
        # made the override.
        "rotation": int(shift.source.split()[1]) if shift.source.startswith("rotation ") else None,
        "override_by": shift.source.removeprefix("override by ")
        if shift.source.startswith("override by ")
        else None,
        "start": start,
        "end": end,
        "start_local": _local(start, zone),
        "end_local": _local(end, zone),
    }


def _local(when: float | None, zone: ZoneInfo) -> str | None:
    return datetime.fromtimestamp(when, zone).isoformat() if when is not None else None
