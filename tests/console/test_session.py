"""The console's session cookie, CSRF token and login checks (relay/web/console/session.py)."""

from __future__ import annotations

from pydantic import SecretStr

from relay.config.sections import AuthConfig, BasicAuthConfig
from relay.web.console.session import (
    SESSION_SECONDS,
    csrf_ok,
    csrf_token,
    decode,
    encode,
    header_actor,
    login_actor,
    new_session,
    signing_key,
)

NOW = 1_800_000_000.0
BEARER = AuthConfig(bearer_token=SecretStr("t0ken-for-tests"))
BASIC = AuthConfig(basic_auth=BasicAuthConfig(username="alice", password=SecretStr("pa55word")))


def test_a_session_survives_its_cookie_until_it_expires() -> None:
    key = signing_key(BEARER)
    session = new_session("session:alice", NOW, signed_in=True)
    cookie = encode(session, key)
    assert decode(cookie, key, NOW + 1) == session
    assert decode(cookie, key, NOW + SESSION_SECONDS + 1) is None


def test_a_cookie_changed_or_signed_with_another_key_is_refused() -> None:
    key = signing_key(BEARER)
    cookie = encode(new_session("session:alice", NOW, signed_in=True), key)
    body, signature = cookie.split(".")
    forged = encode(new_session("session:mallory", NOW, signed_in=True), key).split(".")[0]
    assert decode(f"{forged}.{signature}", key, NOW) is None
    assert decode(cookie, signing_key(BASIC), NOW) is None
    for junk in ("", "x", "a.b.c", f"{body}.", f".{signature}", "%%%.###"):
        assert decode(junk, key, NOW) is None


def test_the_key_follows_the_credential_so_rotating_it_signs_everyone_out() -> None:
    assert signing_key(BEARER) == signing_key(AuthConfig(bearer_token=SecretStr("t0ken-for-tests")))
    assert signing_key(BEARER) != signing_key(AuthConfig(bearer_token=SecretStr("another-token")))
    assert signing_key(None) == signing_key(None)  # one random key per process


def test_the_csrf_token_belongs_to_one_session() -> None:
    key = signing_key(BEARER)
    mine = new_session("session:alice", NOW, signed_in=True)
    other = new_session("session:alice", NOW, signed_in=True)
    token = csrf_token(mine, key)
    assert csrf_ok(mine, key, token)
    assert not csrf_ok(other, key, token)
    assert not csrf_ok(mine, key, None)
    assert not csrf_ok(mine, key, "")
    assert not csrf_ok(mine, signing_key(BASIC), token)


def test_login_checks_the_credentials_as_the_api_does() -> None:
    assert login_actor(BEARER, "Bob  Li", "t0ken-for-tests") == "session:Bob Li"
    assert login_actor(BEARER, "", "t0ken-for-tests") == "session:bearer"
    assert login_actor(BEARER, "bob", "wrong") is None
    assert login_actor(BASIC, "alice", "pa55word") == "session:alice"
    assert login_actor(BASIC, "alice", "wrong") is None
    assert login_actor(BASIC, "bob", "pa55word") is None


def test_an_authorization_header_names_its_actor() -> None:
    assert header_actor(BEARER, "Bearer t0ken-for-tests") == "bearer"
    assert header_actor(BEARER, "Bearer nope") is None
    assert header_actor(BASIC, "Basic YWxpY2U6cGE1NXdvcmQ=") == "basic:alice"  # alice:pa55word
    assert header_actor(BASIC, None) is None
    assert header_actor(None, "Bearer anything") is None
