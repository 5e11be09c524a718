"""Odd bytes from a client are the client's mistake: a 4xx naming it, never a 500.

The class: ``hmac.compare_digest`` refuses a str with non-ASCII characters, ``str.isdigit``
accepts '²' that ``int()`` refuses, and ``int()`` refuses more than 4,300 digits. Every
credential, signature, CSRF token, cookie, timestamp, limit and Content-Length a client
sends goes through ``same_secret`` or ``ascii_int``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.secrets import same_secret
from relay.core.text import ascii_int
from relay.web.slack_interactions import INTERACTIONS_PATH
from tests.conftest import Relay
from tests.helpers.asgi import call_asgi, status_of

PROPERTY = settings(derandomize=True, max_examples=300, deadline=None)
TOKEN = "odd-bytes-token-7c1e"
SIGNING_SECRET = "odd-bytes-signing-secret-3a9d"
CONFIG = f"""
server:
  auth: {{bearer_token: {TOKEN}}}
route: {{receiver: oncall}}
receivers:
  - name: oncall
    slack_configs:
      - api_url: 'http://127.0.0.1:9/api/'
        token: 'xoxb-odd-bytes-0000'
        channel: '#alerts'
        signing_secret: '{SIGNING_SECRET}'
"""
ODD = [
    "é".encode(),
    b"\xe9",
    b"\xff\xfe",
    "²".encode(),
    "٣".encode(),
    b"9" * 5000,
    "𝟘".encode() * 3,
]


@PROPERTY
@given(st.one_of(st.none(), st.text(max_size=30), st.text("0123456789²³٣", max_size=25)))
def test_ascii_int_takes_only_a_few_ascii_digits(text: str | None) -> None:
    value = ascii_int(text)
    if text is not None and 0 < len(text) <= 18 and text.isascii() and text.isdigit():
        assert value == int(text)
    else:
        assert value is None


@PROPERTY
@given(st.one_of(st.text(), st.binary()), st.one_of(st.text(), st.binary()))
def test_same_secret_compares_any_text_as_its_utf8_bytes(given: str | bytes, expected: str | bytes) -> None:
    def raw(value: str | bytes) -> bytes:
        return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value

    assert same_secret(given, expected) == (raw(given) == raw(expected))
    assert same_secret(given, given)


@pytest.fixture
def started(
    relay_factory: Callable[..., AbstractAsyncContextManager[Relay]],
) -> Callable[[], AbstractAsyncContextManager[Relay]]:
    @asynccontextmanager
    async def start() -> AsyncIterator[Relay]:
        async with relay_factory(CONFIG) as relay:
            yield relay

    return start


def _no_500(answer: httpx.Response, what: str) -> None:
    assert answer.status_code < 500, (what, answer.status_code, answer.text[:300])


@pytest.mark.parametrize("odd", ODD, ids=lambda b: b[:12].decode("latin-1"))
async def test_odd_credentials_and_numbers_are_refused_with_a_4xx(
    started: Callable[[], AbstractAsyncContextManager[Relay]], odd: bytes
) -> None:
    async with started() as relay:
        client = relay.client
        auth = {"Authorization": b"Bearer " + odd}
        _no_500(await client.get("/api/v1/status", headers=auth), "bearer token")
        assert (await client.get("/api/v1/status", headers=auth)).status_code == 401
        basic = {"Authorization": b"Basic " + odd}
        assert (await client.get("/api/v1/status", headers=basic)).status_code == 401

        bearer = {"Authorization": f"Bearer {TOKEN}"}
        limit = await client.get(
            "/api/v1/notifications", params={"limit": odd.decode("latin-1")}, headers=bearer
        )
        assert limit.status_code == 400 and "limit" in limit.json()["error"]

        cookie = {"Cookie": b"relay_session=" + odd + b"." + odd}
        _no_500(await client.get("/ui/", headers=cookie), "session cookie")

        signed = {
            "X-Slack-Request-Timestamp": str(int(relay.clock.now())).encode(),
            "X-Slack-Signature": b"v0=" + odd,
            "Content-Type": b"application/x-www-form-urlencoded",
        }
        click = await client.post(INTERACTIONS_PATH, content=b"payload=%7B%7D", headers=signed)
        assert click.status_code == 401, click.text
        stamped = {**signed, "X-Slack-Request-Timestamp": odd}
        click = await client.post(INTERACTIONS_PATH, content=b"payload=%7B%7D", headers=stamped)
        assert click.status_code == 401 and "Timestamp" in click.json()["error"], click.text


async def test_an_odd_csrf_field_is_a_403(started: Callable[[], AbstractAsyncContextManager[Relay]]) -> None:
    async with started() as relay:
        client = relay.client
        login = await client.post("/ui/login", data={"username": "Ada", "secret": TOKEN, "next": "/ui/"})
        assert login.status_code == 303
        for odd in ODD:
            body = b"csrf=" + odd + b"&source=sample&target=integration%3Aoncall%2Fslack%2F0"
            answer = await client.post(
                "/ui/playground", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            assert answer.status_code == 403, (odd[:12], answer.status_code)


async def _status(app: object, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """Straight into the ASGI app, so an odd Content-Length goes as sent (a client library
    would replace it with the real one)."""
    return status_of(await call_asgi(app, path, headers, [{"type": "http.request", "body": body}]))


@pytest.mark.parametrize("odd", [*ODD, b"9" * 40], ids=lambda b: b[:12].decode("latin-1"))
async def test_an_odd_content_length_is_never_a_500(
    started: Callable[[], AbstractAsyncContextManager[Relay]], odd: bytes
) -> None:
    async with started() as relay:
        webhook = [
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", odd),
        ]
        assert await _status(relay.app, "/api/v1/alerts/webhook", webhook, b"{}") in (413, 422)
        form = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", odd)]
        assert await _status(relay.app, "/ui/login", form, b"username=a&secret=b") in (401, 413)
