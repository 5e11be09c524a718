"""Browser sign-in for the console: a signed session cookie and its CSRF token.

API clients send ``Authorization`` (bearer or basic, :mod:`relay.web.auth`) on every request.
A browser cannot send a bearer token by itself, so the console has a login form: the
operator types the configured token (or basic-auth user and password) once, relay checks
it exactly as it checks an API request, and answers a session cookie. The cookie is
``HttpOnly; SameSite=Strict; Path=/ui`` and holds who signed in and until when, signed
with HMAC-SHA256.

The signing key is derived from the configured credential: every replica behind one
address accepts the others' cookies, a restart keeps people signed in, and rotating the
token signs everyone out. Without ``server.auth`` the console is open (as the API is) and
the key is random per process: the cookie then only carries the CSRF token.

Every state-changing form post carries a CSRF token derived from the session's nonce; a
post without it, or with another session's, is refused (403). SameSite=Strict already
keeps the cookie off cross-site posts; the token also covers a browser that re-sends
cached basic-auth credentials to any site's post.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass

from relay.config.sections import AuthConfig
from relay.core.secrets import same_secret
from relay.web.auth import authorized

COOKIE = "relay_session"
COOKIE_PATH = "/ui"
SESSION_SECONDS = 12 * 3600.0
_KEY_CONTEXT = b"relay console session v1"
#: The key of a console without server.auth (nothing to derive one from).
_PROCESS_KEY = os.urandom(32)


@dataclass(frozen=True)
class Session:
    actor: str  # who signs the actions taken in this session (the action log's "by")
    expires: float  # unix seconds
    nonce: str  # random per sign-in; the CSRF token is derived from it
    signed_in: bool  # False for the anonymous session of a console without auth


def signing_key(auth: AuthConfig | None) -> bytes:
    """HMAC key for session cookies: from the configured credential, else per process."""
    if auth is None:
        return _PROCESS_KEY
    if auth.bearer_token is not None:
        material = auth.bearer_token.get_secret_value().encode()
    else:
        assert auth.basic_auth is not None
        basic = auth.basic_auth
        material = f"{basic.username}\0{basic.password.get_secret_value()}".encode()
    return hmac.new(material, _KEY_CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_session(actor: str, now: float, *, signed_in: bool) -> Session:
    return Session(
        actor=actor, expires=now + SESSION_SECONDS, nonce=secrets.token_urlsafe(16), signed_in=signed_in
    )


def encode(session: Session, key: bytes) -> str:
    body = _b64(
        json.dumps(
            {"a": session.actor, "e": session.expires, "n": session.nonce, "s": session.signed_in},
            separators=(",", ":"),
        ).encode()
    )
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def decode(cookie: str | None, key: bytes, now: float) -> Session | None:
    """The session in ``cookie`` if its signature holds and it has not expired."""
    if not cookie or cookie.count(".") != 1:
        return None
    body, signature = cookie.split(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not same_secret(signature, expected):
        return None
    try:
        data = json.loads(_unb64(body))
        session = Session(
            actor=str(data["a"]), expires=float(data["e"]), nonce=str(data["n"]), signed_in=bool(data["s"])
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return session if session.expires > now else None


def csrf_token(session: Session, key: bytes) -> str:
    return _b64(hmac.new(key, f"csrf\0{session.nonce}".encode(), hashlib.sha256).digest())


def csrf_ok(session: Session, key: bytes, token: str | None) -> bool:
    return bool(token) and same_secret(str(token), csrf_token(session, key))


def header_actor(auth: AuthConfig | None, header: str | None) -> str | None:
    """Who an ``Authorization`` header speaks for, or None when it is missing or wrong."""
    if auth is None or not header or not authorized(auth, header):
        return None
    if auth.basic_auth is not None:
        return f"basic:{auth.basic_auth.username}"
    return "bearer"


def login_actor(auth: AuthConfig, username: str, secret: str) -> str | None:
    """Check the login form's fields as an API request's credentials would be checked;
    the actor is ``session:<name>``.

    With a bearer token the secret is the token and ``username`` only names the person
    in the action log (``session:bearer`` without one); with basic auth they are the
    configured user and password.
    """
    if auth.bearer_token is not None:
        if not authorized(auth, f"Bearer {secret}"):
            return None
        name = " ".join(username.split())[:64]
        return f"session:{name or 'bearer'}"
    pair = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return f"session:{username}" if authorized(auth, f"Basic {pair}") else None
