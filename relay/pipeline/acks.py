"""Acknowledging a group, from wherever someone does it: Slack's button, the API, the
console, ``relay ack``. One function each way, so a new source (another chat's button)
is one call.

An acknowledgement stops the group's repeat notifications while its firing alerts stay
the ones acknowledged; a new firing alert lifts it (relay.pipeline.grouping's change
rule). It names who did it (the person in ``people:`` when the name is theirs) and
through what.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from relay.core.escalations import ACKNOWLEDGED
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.timeline import note_acknowledged, record
from relay.pipeline.escalation import stop

#: Commits group updates (the service's, which also tracks whether the store commits).
Apply = Callable[[Sequence[GroupUpdate]], Awaitable[list[TransitionResult]]]

#: Characters of a group id: enough to tell tens of thousands of groups apart.
GROUP_ID_LENGTH = 12


def group_id(key: str) -> str:
    """A short id for a group key (keys are long: ``{}/{severity="critical"}:{...}``)."""
    return hashlib.sha256(key.encode()).hexdigest()[:GROUP_ID_LENGTH]


@dataclass(frozen=True)
class Acknowledged:
    """What an acknowledgement did: the group, and its ack as stored (None: lifted)."""

    key: str
    ack: dict[str, Any] | None
    changed: bool


def _firing(state: GroupState) -> list[str]:
    return sorted(fp for fp, alert in state.alerts.items() if alert.get("status") == "firing")


def acknowledge(
    key: str, by: str, via: str, now: float, *, comment: str = "", firing: list[str] | None = None
) -> GroupUpdate:
    """Acknowledge ``key`` as ``by`` through ``via`` ("slack", "api", "console", "cli").
    ``firing``: the alerts the acknowledger saw (a message's); default: the group's own
    firing alerts now."""

    def transition(state: GroupState | None) -> TransitionResult:
        if state is None:
            return TransitionResult(None, changed=False)  # pruned: nothing left to repeat
        seen = sorted(firing) if firing is not None else _firing(state)
        state.ack = {"by": by, "at": now, "firing": seen, "via": via, "comment": comment}
        record(state, "acknowledged", now, by=by, via=via, comment=comment or None)
        note_acknowledged(state, by, now)
        stop(state, ACKNOWLEDGED, now)
        state.rearm()
        return TransitionResult(state)

    return GroupUpdate(key, transition)


def silenced(
    key: str, by: str, via: str, now: float, until: float, silence_id: str, *, firing: list[str] | None = None
) -> GroupUpdate:
    """A silence was made in Alertmanager for the group: recorded in its timeline, and
    the group acknowledged with it (someone took it: repeats and escalation stop)."""
    acked = acknowledge(key, by, via, now, comment=f"silenced until {until:.0f}", firing=firing)

    def transition(state: GroupState | None) -> TransitionResult:
        if state is None:
            return TransitionResult(None, changed=False)
        record(state, "silenced", now, by=by, via=via, until=until, silence_id=silence_id or None)
        return acked.transition(state)

    return GroupUpdate(key, transition)


def unacknowledge(key: str, now: float, *, by: str = "", via: str = "") -> GroupUpdate:
    """Lift the group's acknowledgement: its repeats are due again as before, and its
    escalation policy starts again from the first step at once (the group's timer is
    made due now; the flush stage restarts it)."""

    def transition(state: GroupState | None) -> TransitionResult:
        if state is None or state.ack is None:
            return TransitionResult(state, changed=False)
        state.ack = None
        record(state, "unacknowledged", now, by=by or None, via=via or None)
        state.rearm()
        if state.escalation is not None and state.firing_count():
            state.next_flush_at = now
        return TransitionResult(state)

    return GroupUpdate(key, transition)


async def resolve_group_key(
    given: str, get: Callable[[str], Awaitable[GroupState | None]], keys: Callable[[], Awaitable[list[str]]]
) -> str:
    """The group key ``given`` names: the key itself, the group's id (``group_id``), or a
    unique prefix of either. LookupError says why none or several match."""
    if await get(given) is not None:
        return given
    every = await keys()
    found = sorted({k for k in every if k.startswith(given) or group_id(k).startswith(given)})
    if not found:
        raise LookupError(f"no group {given!r} (a key, a group id or a prefix of either)")
    if len(found) > 1:
        shown = ", ".join(f"{group_id(k)} {k}" for k in found[:5])
        raise LookupError(f"{len(found)} groups match {given!r}: {shown}; give more of it")
    return found[0]
