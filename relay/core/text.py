"""Text helpers shared by templates, channels and the console: locales, plurals, byte
truncation, escaping for each vendor's markup, times and durations for people to read,
and links (relay's delivery log, Alertmanager's new-silence form)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, cast
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relay.core.alerts import Alert, Escalation, Notification, group_silence_labels
from relay.core.silence_links import grafana_silence_url, silence_url

#: The languages relay writes messages and pages in.
LOCALES = ("en", "zh-CN")


def ascii_int(text: str | None, most_digits: int = 18) -> int | None:
    """The number ``text`` writes in 1 to ``most_digits`` ASCII digits, else None. For
    numbers a client sends (Content-Length, timestamps, limits): ``str.isdigit`` also
    accepts '²' and '٣', and ``int()`` refuses more than 4,300 digits, and either would
    end in a 500 for the client's mistake."""
    if text is None or not 0 < len(text) <= most_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def normalize_locale(locale: str | None) -> str:
    """'zh_CN', 'zh-cn', 'zh' -> 'zh-CN'; anything unknown -> 'en'."""
    value = (locale or "").replace("_", "-").lower()
    return "zh-CN" if value.startswith("zh") else "en"


def _zone(tz: str | tzinfo | None) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def as_datetime(value: Any) -> datetime | None:
    """A datetime from a datetime or an ISO string; None for empty values and Go's zero time."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.year <= 1:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class TimeWithoutZone(ValueError):
    """An RFC 3339 time without its zone: which instant it means is a guess."""

    def __init__(self, text: str) -> None:
        super().__init__(f"{text!r} has no time zone (add Z or +08:00)")


def parse_rfc3339(text: str) -> float:
    """Unix seconds of an RFC 3339 time with its zone ('2024-05-01T12:00:00Z',
    '...+08:00'): TimeWithoutZone without one, ValueError for anything else."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise TimeWithoutZone(text)
    return parsed.timestamp()


def utc_offset(when: datetime) -> str:
    """'+08:00', '-05:00', '+05:45': the UTC offset of an aware datetime."""
    offset = int((when.utcoffset() or timedelta(0)).total_seconds()) // 60
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def zone_label(when: datetime) -> str:
    """'UTC' in UTC, else the offset ('+08:00'). Never an abbreviation: 'CST' is China,
    US Central and Cuba, so a reader could not tell which one a message meant."""
    if when.utcoffset() == timedelta(0) and when.tzname() == "UTC":
        return "UTC"
    return utc_offset(when)


_DIRECTIVE = re.compile(r"%(?::z|.)", re.S)
_ZONE, _OFFSET = object(), object()


@functools.lru_cache(maxsize=256)
def _format_pieces(fmt: str) -> tuple[str | object, ...]:
    """``fmt`` cut around its ``%Z`` and ``%:z`` (``%%Z`` is a literal, not one of them):
    format_datetime puts the zone in their place. A message renders a handful of times
    per alert, with one or two formats, so each format is cut once."""
    pieces: list[str | object] = []
    start = 0
    for match in _DIRECTIVE.finditer(fmt):
        marker = {"%Z": _ZONE, "%:z": _OFFSET}.get(match.group())
        if marker is not None:
            pieces += [fmt[start : match.start()], marker]
            start = match.end()
    pieces.append(fmt[start:])
    return tuple(pieces)


def format_datetime(
    dt: datetime | str | None,
    tz: str | tzinfo | None = "UTC",
    locale: str = "en",
    fmt: str = "%Y-%m-%d %H:%M:%S %Z",
) -> str:
    """'2026-11-22 14:25:51 +08:00' in zone ``tz``; '' for None and Go's zero time (year 1).

    ``fmt`` is strftime's, except that ``%Z`` is :func:`zone_label` ('UTC' or '+08:00',
    never 'CST') and ``%:z`` is the offset with a colon on every Python version."""
    when = as_datetime(dt)
    if when is None:
        return ""
    when = when.astimezone(_zone(tz))
    pieces = _format_pieces(fmt)
    if len(pieces) > 1:
        # The zone's text ('UTC', '+08:00') has no '%': strftime leaves it as it is.
        fmt = "".join(
            zone_label(when) if p is _ZONE else utc_offset(when) if p is _OFFSET else cast(str, p)
            for p in pieces
        )
    return when.strftime(fmt)


_UNITS = {
    "en": (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)),
    "zh-CN": (("天", 86400), ("小时", 3600), ("分", 60), ("秒", 1)),
}


def humanize_duration(seconds: float, locale: str = "en") -> str:
    """The two largest units: '5m 12s', '1h 2m', '2d 3h'; in Chinese '5分12秒', '1小时2分'."""
    units = _UNITS[normalize_locale(locale)]
    remaining = max(int(seconds), 0)
    parts: list[str] = []
    for suffix, size in units:
        count, remaining = divmod(remaining, size)
        if count or parts:
            parts.append(f"{count}{suffix}")
        if len(parts) == 2:
            break
    parts = [p for p in parts if not p.startswith("0")] or [f"0{units[-1][0]}"]
    return ("" if normalize_locale(locale) == "zh-CN" else " ").join(parts)


def plural(count: Any, singular: str, plural_form: str | None = None) -> str:
    """'1 alert', '2 alerts', '0 alerts': the count and the English noun in its form
    (``plural_form`` for irregular ones, else ``singular`` + 's')."""
    try:
        number = int(count)
    except (TypeError, ValueError):
        number = 0
    noun = singular if number == 1 else plural_form or f"{singular}s"
    return f"{number} {noun}"


def truncate_bytes(text: str, limit: int, end: str = "…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes at a character boundary, ending in ``end``."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    tail = end.encode("utf-8")
    if len(tail) > limit:
        tail = b""
    return data[: max(limit - len(tail), 0)].decode("utf-8", "ignore") + tail.decode("utf-8")


def labels_text(labels: Mapping[str, str], exclude: list[str] | tuple[str, ...] = (), sep: str = ", ") -> str:
    """'instance=db-1, job=node': the labels sorted by name, without ``exclude``."""
    return sep.join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in exclude)


def delivery_log_url(relay_url: str, receiver: str) -> str:
    """The console's delivery log of ``receiver`` ('' when ``global.external_url`` is not
    set): a page a person opens from a mail, not the JSON API behind the bearer token."""
    if not relay_url:
        return ""
    return f"{relay_url.rstrip('/')}/ui/notifications?receiver={quote(receiver, safe='')}"


def group_page_url(relay_url: str, group_key: str) -> str:
    """The console's page of one group ('' when ``global.external_url`` is not set)."""
    if not relay_url:
        return ""
    return f"{relay_url.rstrip('/')}/ui/group?key={quote(group_key, safe='')}"


def alert_silence_url(alert: Alert, external_url: str) -> str:
    """Alertmanager's 'new silence' page pre-filled with the alert's labels ('' without a URL)."""
    return silence_url(alert.labels, external_url)


def silence_url_helper(notification: Notification) -> Callable[..., str]:
    """``silence_url`` in templates: ``()`` the group, ``(alert)`` one alert, ``(labels)``
    any labels; a second argument names another Alertmanager than the webhook's."""

    def helper(target: Any = None, external_url: str | None = None) -> str:
        url = notification.external_url if external_url is None else str(external_url)
        if target is None:
            labels: Mapping[str, str] = group_silence_labels(notification)
        elif isinstance(target, Alert):
            labels = target.labels
        elif isinstance(target, Mapping):
            labels = {str(k): str(v) for k, v in target.items()}
        else:
            raise TypeError(f"silence_url() takes an alert or labels, not {type(target).__name__}")
        if external_url is None and notification.from_grafana:
            # Grafana sends each alert's own silence link; others are built the same way.
            own = (target.model_extra or {}).get("silenceURL") if isinstance(target, Alert) else None
            return own if isinstance(own, str) and own else grafana_silence_url(labels, url)
        return silence_url(labels, url)

    return helper


_ICONS = {
    "critical": "🔴",
    "error": "🔴",
    "page": "🔴",
    "warning": "🟠",
    "warn": "🟠",
    "info": "🔵",
    "resolved": "✅",
}


def escalation_text(escalation: Escalation | None, locale: str = "en") -> str:
    """One line saying which escalation step a message is and whom it pages, by their
    display names ('' for a message that is no step): where a channel cannot mention
    someone natively, this is how they are named."""
    if escalation is None:
        return ""
    names = [escalation.shown(p) for p in escalation.people]
    e = escalation
    if normalize_locale(locale) == "zh-CN":
        text = f"⏫ 升级第 {e.step}/{e.steps} 步"
        text += f"（第 {e.round}/{e.rounds} 轮）" if e.rounds > 1 else ""
        text += f"，策略 {e.policy}：" + ("、".join(names) if names else "无人")
        if e.nobody:
            text += f" · {'、'.join(e.nobody)} 当前无人值班"
        return text
    text = f"⏫ Escalation step {e.step} of {e.steps}"
    text += f", round {e.round} of {e.rounds}" if e.rounds > 1 else ""
    text += f" (policy {e.policy}): " + (", ".join(names) if names else "nobody")
    if e.nobody:
        text += f" · nobody on call for {', '.join(e.nobody)}"
    return text


def severity_icon(value: Any) -> str:
    """🔴 critical, 🟠 warning, 🔵 info, ✅ resolved, ⚪ anything else; an Alert or a string."""
    if isinstance(value, Alert):
        value = "resolved" if value.status == "resolved" else value.labels.get("severity", "")
    return _ICONS.get(str(value or "").lower(), "⚪")


def slack_escape(value: Any) -> str:
    """Escape &, <, > so an untrusted value cannot become a Slack mention or link."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: What Adaptive Card markdown (Teams) and CommonMark give a meaning inside a line.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]()<>#|!])")
#: What starts a list, a heading or a quote at the beginning of a line.
_MARKDOWN_LINE_START = re.compile(r"^(\s*(?:[0-9]+)?)([-+=.)])")


def markdown_escape(value: Any) -> str:
    """``value`` as literal text in Markdown (Teams' Adaptive Cards): punctuation that
    would make bold, a link, a mention (``<at>``) or a list is backslash-escaped, and a
    newline becomes a space so a value cannot start a line of its own."""
    text = " ".join(str(value).splitlines())
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def http_url(value: Any) -> str:
    """The URL if it is http(s), else '' (no javascript: links from an alert's payload)."""
    text = str(value or "")
    return text if urlsplit(text).scheme in ("http", "https") else ""
