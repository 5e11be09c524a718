"""Who is on call, as the API (``GET /api/v1/oncall``), the console and ``relay oncall``
show it: per schedule, the person now, since and until when, and the next hand-offs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from relay.config import Config
from relay.core.schedules import Override, Shift, next_hand_offs, shifts

#: How far ahead "until" and the next hand-offs are looked for.
LOOK_AHEAD = 90 * 86400.0
LOOK_BACK = 90 * 86400.0


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
        around = shifts(model, at - LOOK_BACK, at + LOOK_AHEAD)
        current = next((s for s in around if s.start <= at < s.end), None)
        found.append(
            {
                "name": name,
                "time_zone": model.zone,
                "now": _shift(config, current, zone, at - LOOK_BACK, at + LOOK_AHEAD) if current else None,
                "next": [
                    _shift(config, s, zone, None, at + LOOK_AHEAD)
                    for s in next_hand_offs(model, at, upcoming, LOOK_AHEAD)
                ],
            }
        )
    return {"at": at, "schedules": found}


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
        "start": start,
        "end": end,
        "start_local": _local(start, zone),
        "end_local": _local(end, zone),
    }


def _local(when: float | None, zone: ZoneInfo) -> str | None:
    return datetime.fromtimestamp(when, zone).isoformat() if when is not None else None
