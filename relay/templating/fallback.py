"""The last resort: plain text for a notification or a digest when even the built-in
template failed, because a message must still go out."""

from __future__ import annotations

from collections.abc import Sequence

from relay.core.alerts import Notification
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


def last_resort(n: Notification, locale: str = "en") -> str:
    """Text when even a built-in template failed: a message must still go out."""
    name = n.common_labels.get("alertname") or labels_text(n.group_labels) or n.receiver
    if normalize_locale(locale) == "zh-CN":
        status = f"告警:{len(n.firing)}" if n.status == "firing" else "已恢复"
        return f"[{status}] {name}（{len(n.alerts)} 条告警）"
    return f"[{n.status.upper()}:{len(n.firing)}] {name} ({plural(len(n.alerts), 'alert')})"
