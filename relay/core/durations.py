"""Durations as Alertmanager writes them: 30s, 5m, 4h, 1d, 1w, 1h30m, 500ms."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, SerializationInfo

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(value: Any) -> float:
    """Seconds from '1h30m'-style text or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 4h, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"a duration must be a finite number of seconds, got {value!r}")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _at_most_longest(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 30s, 5m, 4h, got {value!r}")
    text = value.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"invalid duration {value!r}: use a number and a unit (ms, s, m, h, d, w), e.g. 30s, 5m, 1h30m"
        )
    return _at_most_longest(total, value)


#: No duration of relay's is longer (and a longer one overflows dates and timers).
LONGEST = 100 * 365 * 86400.0


def _at_most_longest(seconds: float, written: Any) -> float:
    if seconds > LONGEST:
        raise ValueError(f"duration {written!r} is longer than 100 years")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest '1h30m'-style text for a number of seconds."""
    if seconds == 0:
        return "0s"
    out, rest = [], seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            count = int(rest // size)
            out.append(f"{count}{unit}")
            rest -= count * size
    if rest:
        out.append(f"{rest:g}s")
    return "".join(out)


def _dumped(seconds: float, info: SerializationInfo) -> float | str:
    """Seconds, as the API gives them; ``30s`` / ``4h`` when the dump's context asks for
    ``{"durations": "text"}`` (the console's config page, read by a person)."""
    context = info.context
    if isinstance(context, dict) and context.get("durations") == "text":
        return format_duration(seconds)
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(_dumped, return_type=float | str, when_used="always"),
]


def within(least: float, most: float) -> AfterValidator:
    """For ``Annotated[Duration, within(least, most)]``: the key's range, both ends
    included and named as durations in the error ('from 1ms to 10m, got 1y'). Each key's
    range says what can work: a zero timeout never delivers, a year-long one never ends."""

    def check(seconds: float) -> float:
        if not least <= seconds <= most:
            span = f"from {format_duration(least)} to {format_duration(most)}"
            raise ValueError(f"must be {span}, got {format_duration(seconds)}")
        return seconds

    return AfterValidator(check)
