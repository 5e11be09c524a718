"""Durations as Alertmanager writes them: 30s, 5m, 4h, 1d, 1w, 1h30m, 500ms."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(value: Any) -> float:
    """Seconds from '1h30m'-style text or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 4h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
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
    return total


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


Duration = Annotated[float, BeforeValidator(parse_duration)]
