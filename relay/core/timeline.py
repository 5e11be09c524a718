"""A group's timeline: what happened to it, oldest first, kept in its state (so it is as
durable as the group and written in the same transition as what it records).

Events: ``firing`` (the group has firing alerts again), ``notified`` (a notification
was queued for an integration; who it mentions), ``escalated`` (an escalation step:
policy, step, round, the people it reached), ``escalation_stopped`` (why),
``acknowledged`` (by, via what), ``unacknowledged``, ``resolved``.

The group's incident (``state.incident``) is kept alongside: started, acknowledged,
resolved, the policy that escalated and how many steps fired. A store writes a copy
whenever it changes, in the same commit, so statistics outlive the group.
"""

from __future__ import annotations

import hashlib
from typing import Any

from relay.core.groups import GroupState

#: Events kept per group. Past it the oldest go, but the first (how it began) stays; a
#: group that flaps for weeks must not grow without bound.
MAX_EVENTS = 200


def record(state: GroupState, event: str, at: float, **details: Any) -> None:
    """Add ``event`` at ``at`` to the group's timeline."""
    entry: dict[str, Any] = {"at": at, "event": event}
    entry.update({k: v for k, v in details.items() if v is not None})
    state.timeline.append(entry)
    if len(state.timeline) > MAX_EVENTS:
        del state.timeline[1 : len(state.timeline) - MAX_EVENTS + 1]


def note_firing_change(state: GroupState, was_firing: bool, at: float) -> None:
    """Record ``firing`` / ``resolved`` when the group's firing count crossed zero, and
    begin or end its incident."""
    firing = state.firing_count()
    if firing and not was_firing:
        record(state, "firing", at, alerts=firing)
        state.incident = new_incident(state, at)
    elif was_firing and not firing:
        record(state, "resolved", at)
        if state.incident is not None and state.incident.get("resolved_at") is None:
            state.incident["resolved_at"] = at


def new_incident(state: GroupState, at: float) -> dict[str, Any]:
    """An incident that begins at ``at``; its id is the same on every replica."""
    return {
        "id": hashlib.sha256(f"{state.key}\n{at!r}".encode()).hexdigest()[:24],
        "group_key": state.key,
        "receiver": state.receiver,
        "started_at": at,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "policy": None,
        "steps": 0,
    }


def note_acknowledged(state: GroupState, by: str, at: float) -> None:
    """The incident's first acknowledgement (time to acknowledge counts to it)."""
    if state.incident is not None and state.incident.get("acknowledged_at") is None:
        state.incident["acknowledged_at"] = at
        state.incident["acknowledged_by"] = by


def firing_since(state: GroupState) -> float | None:
    """When the group last began firing (its latest ``firing`` event), if recorded."""
    for entry in reversed(state.timeline):
        if entry.get("event") == "firing":
            return float(entry["at"])
    return None
