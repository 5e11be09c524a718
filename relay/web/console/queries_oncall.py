"""On call for the API and the console: who is on call (with the overrides made at run
time), and making, listing and removing those overrides."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from relay.config.oncall import ScheduleConfig
from relay.core.durations import parse_duration
from relay.core.schedules import Override
from relay.pipeline.oncall import overrides_by_schedule
from relay.pipeline.stats import incident_stats
from relay.web.console.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from relay.web.state import RelayState

#: The longest override made at run time (a swap, a holiday; not a new rotation).
MAX_OVERRIDE_SECONDS = 90 * 86400.0


async def runtime_overrides(state: RelayState) -> dict[str, tuple[Override, ...]]:
    """The overrides made at run time, by schedule, oldest first (a later one wins)."""
    return overrides_by_schedule(await state.store.list_overrides())


def schedule_config(state: RelayState, name: str) -> ScheduleConfig:
    config = state.runtime.config
    found = next((s for s in config.schedules if s.name == name), None)
    if found is None:
        known = ", ".join(s.name for s in config.schedules) or "none"
        raise NotFound(f"unknown schedule {name!r} (known: {known})")
    return found


async def list_overrides(state: RelayState, name: str) -> dict[str, Any]:
    """The schedule's overrides: the config's, then those made at run time."""
    schedule = schedule_config(state, name)
    zone = ZoneInfo(schedule.time_zone)
    from_config = [
        _shown(
            {
                "id": None,
                "schedule": name,
                "person": o.person,
                "start": o.start.replace(tzinfo=zone, fold=0).timestamp(),
                "end": o.end.replace(tzinfo=zone, fold=0).timestamp(),
                "by": "config",
            },
            zone,
        )
        for o in schedule.overrides
    ]
    made = [_shown(o, zone) for o in await state.store.list_overrides(name)]
    return {"schedule": name, "time_zone": schedule.time_zone, "overrides": from_config + made}


async def add_override(state: RelayState, name: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """Keep an override made through the API or the console; what is wrong is a 400
    naming the field."""
    schedule = schedule_config(state, name)
    zone = ZoneInfo(schedule.time_zone)
    person = body.get("person")
    rotating = sorted({p for r in schedule.rotations for p in r.people})
    if not isinstance(person, str) or person not in rotating:
        raise BadRequest(
            f"person: expected one of this schedule's people ({', '.join(rotating)}), got {person!r}"
        )
    start = _instant(body.get("start"), "start", zone)
    end = _instant(body.get("end"), "end", zone)
    now = state.clock.now()
    if end <= start:
        raise BadRequest("end: must be after start")
    if end <= now:
        raise BadRequest("end: already past")
    if end - start > MAX_OVERRIDE_SECONDS:
        raise BadRequest("an override lasts at most 90 days: change the rotation in the config instead")
    by = body.get("by")
    override = {
        "id": uuid.uuid4().hex[:12],
        "schedule": name,
        "person": person,
        "start": start,
        "end": end,
        "by": str(by)[:100] if isinstance(by, str) and by.strip() else actor,
        "comment": str(body.get("comment") or "")[:500],
        "created_at": now,
    }
    await state.store.add_override(override)
    await state.read_overrides()
    return _shown(override, zone)


async def delete_override(state: RelayState, name: str, override_id: str) -> dict[str, Any]:
    schedule_config(state, name)
    removed = await state.store.delete_override(name, override_id)
    await state.read_overrides()
    if not removed:
        raise NotFound(f"schedule {name!r} has no override {override_id!r} made at run time")
    return {"deleted": override_id}


def _instant(value: Any, field: str, zone: ZoneInfo) -> float:
    """Unix seconds, or ISO 8601 (without an offset: the schedule's zone)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return (when if when.tzinfo is not None else when.replace(tzinfo=zone, fold=0)).timestamp()
    raise BadRequest(
        f"{field}: expected unix seconds or an ISO 8601 time such as 2026-12-24T10:00, got {value!r}"
    )


def _shown(override: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    return {
        **override,
        "start_local": datetime.fromtimestamp(float(override["start"]), zone).isoformat(),
        "end_local": datetime.fromtimestamp(float(override["end"]), zone).isoformat(),
    }


#: Incidents read for one answer of GET /api/v1/stats at most (newest first).
STATS_INCIDENTS = 50_000


async def stats(state: RelayState, query: dict[str, str]) -> dict[str, Any]:
    """``GET /api/v1/stats?since=7d[&receiver=][&escalation=]``: incident counts and times
    to acknowledge and resolve (relay.pipeline.stats), over at most storage.retention."""
    retention = state.runtime.config.storage.retention
    try:
        since = parse_duration(query.get("since", "7d"))
    except ValueError as exc:
        raise BadRequest(f"since: {exc}") from None
    if since <= 0:
        raise BadRequest("since: expected a duration such as 7d or 24h")
    window = min(since, retention)
    now = state.clock.now()
    found = await state.store.list_incidents(now - window, STATS_INCIDENTS)
    return {
        "since": now - window,
        "until": now,
        # Incidents older than storage.retention are gone: a longer window is cut to it.
        "window_seconds": window,
        "truncated": len(found) >= STATS_INCIDENTS,
        **incident_stats(
            found, receiver=query.get("receiver") or None, escalation=query.get("escalation") or None
        ),
    }
