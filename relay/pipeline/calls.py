"""How a phone call relay placed ended, on the group's timeline: answered or not, as the
vendor reported it (Twilio's status callback). Only a record: escalation waits for an
acknowledgement, never for "the call was answered" (a voicemail answers too).
"""

from __future__ import annotations

from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.timeline import record

#: Vendor call states that mean someone (or a voicemail) picked up.
ANSWERED = frozenset({"completed", "in-progress", "answered"})


def call_ended(
    key: str,
    *,
    to: str,
    status: str,
    now: float,
    via: str,
    duration: int | None = None,
    answered: bool | None = None,
) -> GroupUpdate:
    """Record on ``key``'s timeline that the call to ``to`` (masked) ended in ``status``;
    ``answered`` when the vendor says it outright (None: from the status; for a status
    of "unknown", unknown)."""
    if answered is None and status != "unknown":
        answered = status in ANSWERED

    def transition(state: GroupState | None) -> TransitionResult:
        if state is None:
            return TransitionResult(None, changed=False)  # pruned: nothing to note it on
        record(
            state,
            "call",
            now,
            to=to,
            status=status[:40],
            answered=answered,
            duration=duration,
            via=via,
        )
        return TransitionResult(state)

    return GroupUpdate(key, transition)
