"""The buttons on a firing Slack message (bot mode) and the lines that report what a click
did. Kept apart from the notifier so that building the message needs no HTTP code."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from relay.core.text import format_datetime, humanize_duration, normalize_locale

ACTIONS_BLOCK_ID = "relay_actions"
STATUS_BLOCK_ID = "relay_status"
ACKNOWLEDGE = "relay_ack"
#: action_id -> how long the silence lasts, in seconds.
SILENCE_FOR = {"relay_silence_1h": 3600.0, "relay_silence_4h": 4 * 3600.0}
MAX_STATUS_CHARS = 3000  # a context element's text

_BUTTONS = {
    "en": {"relay_silence_1h": "Silence 1h", "relay_silence_4h": "Silence 4h", ACKNOWLEDGE: "Acknowledge"},
    "zh-CN": {"relay_silence_1h": "静默 1 小时", "relay_silence_4h": "静默 4 小时", ACKNOWLEDGE: "确认"},
}
_SILENCED = {
    "en": "🔕 Silenced for {duration} by {user} until {until}",
    "zh-CN": "🔕 已由 {user} 静默 {duration}，至 {until}",
}
_ACKNOWLEDGED = {"en": "✅ Acknowledged by {user}", "zh-CN": "✅ 已由 {user} 确认"}
_FAILED = {
    "en": "⚠️ Could not silence for {duration} (asked by {user}): {why}",
    "zh-CN": "⚠️ 静默 {duration} 失败（{user} 操作）：{why}",
}
_ACK_FAILED = {
    "en": "⚠️ Could not record the acknowledgement by {user}: {why}",
    "zh-CN": "⚠️ 未能记录 {user} 的确认：{why}",
}


def actions_block(job_id: str, locale: str, *, silences: bool) -> dict[str, Any]:
    """Silence 1h, Silence 4h (when relay knows an Alertmanager) and Acknowledge; each
    button carries the job id, from which relay finds the group when it is clicked."""
    labels = _BUTTONS[normalize_locale(locale)]
    ids = [*SILENCE_FOR] if silences else []
    buttons = [
        {
            "type": "button",
            "action_id": action,
            "value": job_id,
            "text": {"type": "plain_text", "text": labels[action]},
        }
        for action in [*ids, ACKNOWLEDGE]
    ]
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons}


def mention(user_id: str, name: str) -> str:
    """``<@U123>``, which Slack shows as @name; the name itself when there is no id."""
    return f"<@{user_id}>" if user_id else f"@{name or 'someone'}"


def silenced_line(locale: str, seconds: float, user: str, until: datetime, tz: str) -> str:
    loc = normalize_locale(locale)
    return _SILENCED[loc].format(
        duration=humanize_duration(seconds, loc),
        user=user,
        until=format_datetime(until.astimezone(UTC), tz, fmt="%H:%M %Z"),
    )


def acknowledged_line(locale: str, user: str) -> str:
    return _ACKNOWLEDGED[normalize_locale(locale)].format(user=user)


def failed_line(locale: str, seconds: float | None, user: str, why: str) -> str:
    loc = normalize_locale(locale)
    if seconds is None:
        line = _ACK_FAILED[loc].format(user=user, why=why)
    else:
        line = _FAILED[loc].format(duration=humanize_duration(seconds, loc), user=user, why=why)
    return line[:MAX_STATUS_CHARS]


def with_status(message: dict[str, Any], line: str) -> dict[str, Any] | None:
    """``message`` (as Slack sent it with the click) with ``line`` added to its status
    block under the buttons, ready for ``response_url`` with ``replace_original``; None
    when the message has no buttons of relay's."""
    updated: dict[str, Any] = {"replace_original": True, "text": message.get("text", "")}
    found = False
    if isinstance(message.get("blocks"), list):
        updated["blocks"] = copy.deepcopy(message["blocks"])
        found = _add_status(updated["blocks"], line)
    attachments = copy.deepcopy(message.get("attachments") or [])
    for attachment in attachments:
        if not found and isinstance(attachment, dict) and isinstance(attachment.get("blocks"), list):
            found = _add_status(attachment["blocks"], line)
    if attachments:
        updated["attachments"] = attachments
    return updated if found else None


def _add_status(blocks: list[Any], line: str) -> bool:
    for block in blocks:
        if isinstance(block, dict) and block.get("block_id") == STATUS_BLOCK_ID:
            block.setdefault("elements", []).append({"type": "mrkdwn", "text": line})
            block["elements"] = block["elements"][-10:]  # a context block holds at most 10
            return True
    for index, block in enumerate(blocks):
        if isinstance(block, dict) and block.get("block_id") == ACTIONS_BLOCK_ID:
            status = {
                "type": "context",
                "block_id": STATUS_BLOCK_ID,
                "elements": [{"type": "mrkdwn", "text": line}],
            }
            blocks.insert(index + 1, status)
            return True
    return False
