"""Slack's request signing, written from Slack's documentation ("Verifying requests from
Slack") rather than with relay's own helper, so the tests check relay against Slack and
not against itself: ``v0=`` and the hex HMAC-SHA256, keyed with the app's signing secret,
of ``v0:<X-Slack-Request-Timestamp>:<raw body>``."""

from __future__ import annotations

import hashlib
import hmac


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    basestring = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
