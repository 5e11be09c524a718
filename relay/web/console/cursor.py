"""Opaque page cursors: URL-safe base64 of a small JSON value, checked when read back."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any


class BadCursor(ValueError):
    """A cursor relay did not hand out (edited, truncated, from another list)."""


def _encode(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor("cursor is not one relay handed out (pass next_cursor as is)") from None


def encode_job_cursor(position: tuple[float, str]) -> str:
    """The delivery log's cursor: the (created_at, id) the next page starts after.
    json keeps a float exactly (repr), so no job is skipped or repeated."""
    return _encode(["j", position[0], position[1]])


def decode_job_cursor(text: str) -> tuple[float, str]:
    value = _decode(text)
    if (
        not isinstance(value, list)
        or len(value) != 3
        or value[0] != "j"
        or not isinstance(value[1], int | float)
        or isinstance(value[1], bool)
        or not math.isfinite(value[1])
        or not isinstance(value[2], str)
    ):
        raise BadCursor("cursor is not one of the notifications list (pass next_cursor as is)")
    return float(value[1]), value[2]


def encode_group_cursor(key: str) -> str:
    return _encode(["g", key])


def decode_group_cursor(text: str) -> str:
    value = _decode(text)
    if not isinstance(value, list) or len(value) != 2 or value[0] != "g" or not isinstance(value[1], str):
        raise BadCursor("cursor is not one of the groups list (pass next_cursor as is)")
    return value[1]
