"""The console's Jinja2 environment (autoescaped) and how it shows times and sizes.

Console pages are relay's own templates, not the user's: a plain (not sandboxed)
environment with autoescape on for every template, so every label, annotation and
downstream answer is escaped wherever it lands; StrictUndefined turns a typo into an
error in tests instead of an empty cell.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from relay.core.said import said_in
from relay.web.console.i18n import translate

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty_json"] = pretty_json
    env.filters["yaml"] = as_yaml
    env.filters["pretty_if_json"] = pretty_if_json
    env.filters["message_text"] = message_text
    return env


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)


def pretty_if_json(text: str) -> str:
    """A JSON body indented for reading (the playground previews it; the notification
    page shows the bytes exactly as sent); any other text unchanged."""
    try:
        return pretty_json(json.loads(text))
    except ValueError:
        return text


def message_text(text: str) -> str:
    """The text a chat body carries, for reading: WeCom's ``{"msgtype": m, m: {"content":
    ...}}`` (markdown with real line breaks, not JSON escapes); '' for anything else."""
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    inner = body.get(str(body.get("msgtype", "")))
    content = inner.get("content") if isinstance(inner, dict) else None
    return content if isinstance(content, str) else ""


def as_yaml(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, default_flow_style=False)


@dataclass(frozen=True)
class Formatting:
    """Times in the config's zone, spans in the page's language, as of ``now``."""

    lang: str
    zone: ZoneInfo
    now: float

    def local(self, ts: float | None) -> str:
        if ts is None:
            return translate(self.lang, "never")
        return datetime.fromtimestamp(ts, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def span(self, seconds: float) -> str:
        """'3m', '2h' / '3 分钟': the largest whole unit."""
        seconds = abs(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return translate(self.lang, f"unit.{unit}", n=int(seconds // size))
        return translate(self.lang, "unit.s", n=int(seconds))

    def relative(self, ts: float) -> str:
        delta = ts - self.now
        if abs(delta) < 1:
            return translate(self.lang, "now")
        key = "in" if delta > 0 else "ago"
        return translate(self.lang, key, span=self.span(delta))

    def when(self, ts: float | None) -> Markup:
        """<time> with the local time, and how long ago (or until) it is."""
        if ts is None:
            return Markup('<span class="muted">{}</span>').format(translate(self.lang, "never"))
        iso = datetime.fromtimestamp(ts, self.zone).isoformat(timespec="seconds")
        return Markup('<time datetime="{}">{}</time> <span class="muted">({})</span>').format(
            iso, self.local(ts), self.relative(ts)
        )

    def said(self, text: str) -> str:
        """Words relay wrote in both languages (a config warning) in the page's language."""
        return said_in(text, self.lang)

    def when_text(self, text: str) -> Markup:
        """:meth:`when` for an RFC 3339 time as Alertmanager writes it (startsAt)."""
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return Markup("{}").format(text)
        return self.when(moment.timestamp())

    def number(self, value: float) -> str:
        """20 rather than 20.0; 0.5 stays 0.5."""
        return f"{value:g}"

    def duration(self, seconds: float) -> str:
        if seconds < 1:
            return f"{seconds * 1000:.0f} ms"
        return f"{seconds:.2f} s" if seconds < 60 else self.span(seconds)

    def seconds(self, value: float) -> str:
        """A config duration the way the config writes it: 30s, 5m, 4h."""
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if value >= size and value % size == 0:
                return f"{int(value // size)}{unit}"
        return f"{value:g}s"


def formatting(lang: str, timezone: str, now: float) -> Formatting:
    return Formatting(lang, ZoneInfo(timezone), now)
