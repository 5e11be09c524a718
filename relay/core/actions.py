"""Action links: short, signed, expiring tokens for "acknowledge" and "silence for N" on
one notification, so a message on any channel (a robot that cannot call anyone back
included) carries links that act.

A token is 47 URL-safe characters: base64url of the notification's job id (16 bytes),
the action (``a`` acknowledge, ``s`` silence), the silence's length in seconds (4
bytes), the link's expiry (4 bytes, unix seconds) and the first 10 bytes of an
HMAC-SHA256 of all that with relay's action key. The job names the group (and the
alerts the message showed), so a token is bound to one group and one action; without
the key nobody can make one, and changing any byte breaks the MAC. Nothing is stored
per link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass

ACKNOWLEDGE = "a"
SILENCE = "s"
_MAC_BYTES = 10
_BODY = struct.Struct(">16scII")  # job id, action, silence seconds, expiry


class BadToken(ValueError):
    """Why a token is refused: damaged, signed with another key, or expired."""


@dataclass(frozen=True)
class ActionToken:
    job_id: str  # 32 hex digits
    action: str  # ACKNOWLEDGE or SILENCE
    seconds: int  # the silence's length (0 for an acknowledgement)
    expires: int  # unix seconds


def sign(key: bytes, token: ActionToken) -> str:
    """The URL-safe text of ``token`` under ``key``."""
    body = _BODY.pack(bytes.fromhex(token.job_id), token.action.encode(), token.seconds, token.expires)
    mac = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def verify(key: bytes, text: str, now: float) -> ActionToken:
    """The token ``text`` names; BadToken when it is damaged, forged or expired."""
    if len(text) > 64:
        raise BadToken("not a link of relay's")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadToken("not a link of relay's") from None
    if len(raw) != _BODY.size + _MAC_BYTES:
        raise BadToken("not a link of relay's")
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]):
        raise BadToken("this link was not made by this relay, or it was changed")
    job, action, seconds, expires = _BODY.unpack(body)
    kind = action.decode("latin-1")
    if kind not in (ACKNOWLEDGE, SILENCE):
        raise BadToken("not a link of relay's")
    if expires <= now:
        raise BadToken("this link has expired")
    return ActionToken(job.hex(), kind, seconds, expires)


class ActionKey:
    """relay's action key, shared by every replica (kept in the store, made once); None
    until the store gave it. Until then messages carry no links."""

    def __init__(self, value: bytes | None = None) -> None:
        self.value = value


#: Link expiries are rounded up to the hour, so a message rendered again (a retry, the
#: next part of a split one) carries the same links.
_EXPIRY_STEP = 3600


@dataclass(frozen=True)
class LinkMaker:
    """The action links of one notification: ``{external_url}/a/{token}``."""

    key: ActionKey
    base_url: str  # global.external_url, without a trailing slash
    ttl: float
    silences: tuple[float, ...]
    now: Callable[[], float]  # the service's clock: what the link pages check expiry by

    def tokens(self, job_id: str) -> list[tuple[str, int, str]]:
        """(action, silence seconds, token) for Acknowledge and each silence; none
        without a key or a job id (a preview)."""
        key = self.key.value
        if key is None or len(job_id) != 32:
            return []
        try:
            bytes.fromhex(job_id)
        except ValueError:
            return []
        expires = int(-(-(self.now() + self.ttl) // _EXPIRY_STEP) * _EXPIRY_STEP)
        found = [(ACKNOWLEDGE, 0)] + [(SILENCE, int(s)) for s in self.silences]
        return [
            (action, seconds, sign(key, ActionToken(job_id, action, seconds, expires)))
            for action, seconds in found
        ]

    def links(self, job_id: str) -> list[tuple[str, int, str]]:
        """(action, silence seconds, URL) of each token; none without a base URL."""
        if not self.base_url:
            return []
        return [
            (action, seconds, f"{self.base_url}/a/{token}") for action, seconds, token in self.tokens(job_id)
        ]
