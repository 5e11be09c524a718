"""Acknowledge or silence a group: the one function every source calls (Slack's
buttons, action links, the API, the console, the CLI; the chat buttons to come).

A silence is created in Alertmanager (``alertmanager:``) for the group's labels, then
recorded in the group's timeline with an acknowledgement (someone took the page: its
repeats and its escalation stop). An Alertmanager that is not configured or does not
take the silence leaves nothing half-done: the outcome says why and the group is as it
was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from relay.clients.alertmanager import AlertmanagerClient, AlertmanagerError
from relay.core.alerts import Notification, group_silence_labels
from relay.pipeline.acks import acknowledge, silenced

if TYPE_CHECKING:
    from relay.web.state import RelayState

logger = logging.getLogger("relay.actions")

ACK = "ack"
SILENCE = "silence"
#: How a silence's creator names where it came from.
SOURCES = {
    "slack": "Slack",
    "link": "a message link",
    "telegram": "Telegram",
    "feishu": "Feishu",
    "wecom": "WeCom",
    "phone": "a phone call",
}


@dataclass(frozen=True)
class Outcome:
    """What an action did: ``done`` or not, and why not (in words for the person)."""

    action: str  # ACK or SILENCE
    done: bool
    by: str
    until: float | None = None  # a silence's end
    problem: str = ""  # "no_alertmanager", "not_accepted", "gone"
    detail: str = ""  # Alertmanager's words


async def act(
    state: RelayState,
    *,
    group_key: str,
    action: str,
    by: str,
    via: str,
    seconds: float = 0.0,
    notification: Notification | None = None,
) -> Outcome:
    """Acknowledge the group, or silence it for ``seconds``. ``notification``: the
    message acted from (its firing alerts are what the person saw; its labels what a
    silence matches); without one, the group as stored."""
    now = state.clock.now()
    firing = [a.fingerprint for a in notification.firing] if notification is not None else None
    if action == ACK:
        results = await state.apply([acknowledge(group_key, by, via, now, firing=firing)])
        await _count(state, group_key, results[0].changed if results else False, now)
        return Outcome(ACK, True, by)
    config = state.runtime.config.alertmanager
    if config is None:
        return Outcome(SILENCE, False, by, problem="no_alertmanager")
    if notification is not None:
        labels = group_silence_labels(notification)
        name = notification.common_labels.get("alertname") or notification.group_key
    else:
        group = await state.store.get_group(group_key)
        if group is None:
            return Outcome(SILENCE, False, by, problem="gone")
        labels, name = dict(group.labels), group.labels.get("alertname", group_key)
    starts = datetime.fromtimestamp(now, UTC)
    ends = starts + timedelta(seconds=seconds)
    try:
        made = await AlertmanagerClient(config, state.http).create_silence(
            labels,
            starts,
            ends,
            created_by=f"{by} ({SOURCES.get(via, via)}, via relay)",
            comment=f"Silenced from {SOURCES.get(via, via)} by {by}: {name}",
        )
    except AlertmanagerError as exc:
        logger.warning("Alertmanager did not take the silence: %s", exc, extra={"group_key": group_key})
        return Outcome(SILENCE, False, by, problem="not_accepted", detail=str(exc))
    until = ends.timestamp()
    silence_id = made.id
    results = await state.apply([silenced(group_key, by, via, now, until, silence_id, firing=firing)])
    await _count(state, group_key, results[0].changed if results else False, now)
    return Outcome(SILENCE, True, by, until=until)


async def _count(state: RelayState, group_key: str, changed: bool, now: float) -> None:
    if not changed:
        return
    group = await state.store.get_group(group_key)
    if group is not None:
        state.count_acknowledged(group, now)
