"""Bearer or basic authentication for /api/* and /-/reload, compared in constant time."""

from __future__ import annotations

import base64
import binascii

from relay.config.sections import AuthConfig
from relay.core.secrets import same_secret


def challenge(auth: AuthConfig) -> str:
    return 'Bearer realm="relay"' if auth.bearer_token is not None else 'Basic realm="relay"'


def authorized(auth: AuthConfig | None, header: str | None) -> bool:
    """True when no auth is configured or ``header`` carries the configured credentials."""
    if auth is None:
        return True
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if auth.bearer_token is not None:
        expected = auth.bearer_token.get_secret_value().encode()
        return scheme.lower() == "bearer" and same_secret(value, expected)
    if auth.basic_auth is None or scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    username, sep, password = decoded.partition(b":")
    ok_user = same_secret(username, auth.basic_auth.username)
    ok_pass = same_secret(password, auth.basic_auth.password.get_secret_value())
    return bool(sep) and ok_user and ok_pass


def actor(auth: AuthConfig | None, header: str | None) -> str:
    """Who a request authorized by ``header`` acts as, for the console's action log:
    "bearer" (the one token), "basic:<user>", or "anonymous" when no auth is configured."""
    if auth is None:
        return "anonymous"
    if auth.bearer_token is not None:
        return "bearer"
    assert auth.basic_auth is not None
    return f"basic:{auth.basic_auth.username}"
