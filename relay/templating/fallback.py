"""The last resort: plain text for a notification or a digest when even the built-in
template failed, because a message must still go out."""

from __future__ import annotations

from collections.abc import Sequence

from relay.core.alerts import Alert, Notification
from relay.core.digests import Digest, DigestEntry
from relay.core.text import (
    labels_text,
    normalize_locale,
    plural,
)


def digest_last_resort(digest: Digest, entries: Sequence[DigestEntry], locale: str) -> str:
    """Text when even a built-in digest template failed: totals, then a line per entry."""
    if normalize_locale(locale) == "zh-CN":
        head = f"告警摘要：{digest.groups} 个分组，{digest.firing} 条告警中，{digest.resolved} 条已恢复"
    else:
        head = (
            f"Alert digest: {plural(digest.groups, 'group')}, {digest.firing} firing,"
            f" {digest.resolved} resolved"
        )
    lines = [
        f"[{e.status}] {e.alertname} {labels_text(e.labels, exclude=['alertname'])} ({e.count})"
        for e in entries
    ]
    return "\n".join([head, *lines])


def last_resort(
    n: Notification,
    locale: str = "en",
    alerts: Sequence[Alert] | None = None,
    not_shown: int = 0,
    group_url: str = "",
) -> str:
    """Text when even a built-in template failed: a message must still go out.

    ``alerts``: the part of a split message being rendered (with ``not_shown``, the "and
    N more" its footer owes): each gets a line, so a part that fell back still carries
    its alerts and the count of those it leaves out (and ``group_url``, where they all
    are). Without it, one line for the group.
    """
    name = n.common_labels.get("alertname") or labels_text(n.group_labels) or n.receiver
    chinese = normalize_locale(locale) == "zh-CN"
    if chinese:
        status = f"告警:{len(n.firing)}" if n.status == "firing" else "已恢复"
        head = f"[{status}] {name}（{len(n.alerts)} 条告警）"
    else:
        head = f"[{n.status.upper()}:{len(n.firing)}] {name} ({plural(len(n.alerts), 'alert')})"
    if alerts is None:
        return head
    lines = [head]
    for alert in alerts:
        summary = alert.annotations.get("summary", "")
        described = labels_text(alert.labels, exclude=["alertname"])
        lines.append(f"- [{alert.status}] {alert.labels.get('alertname', '')} {described} {summary}".rstrip())
    if not_shown:
        footer = f"另有 {not_shown} 条告警未显示" if chinese else f"… and {not_shown} more not shown"
        lines.append(footer + (f": {group_url}" if group_url else ""))
    return "\n".join(lines)
