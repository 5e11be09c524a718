"""relay's HTTP/1.1 transport: its pool (reuse, bounds, expiry, cancellation), TLS, and
proxies from the environment still going through httpx. The answers themselves are
compared with httpx's transport in test_http11_transport.py."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.channels.http import call
from relay.channels.http11 import Http11Transport, delivery_client
from relay.core.errors import DeliveryError
from tests.conftest import require_binary
from tests.helpers.scripted_http import Script, ScriptedServer, scripted_server
from tests.helpers.tls import self_signed

OK = Script(head=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", body=b"{}")
SLOW = Script(head=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", body=b"{}", fragments=[1] * 30)
CLOSING = Script(
    head=b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", body=b"{}", close=True
)
#: Closes after answering without saying so: the connection dies while kept idle.
CLOSES_LATER = Script(head=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", body=b"{}", close=True)
HUGE = Script(head=b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", body=b"x" * 1_000_000)
SILENT = Script(behaviour="silent")


def client(server: ScriptedServer, **limits: float | int | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}",
        timeout=2,
        transport=Http11Transport(limits=httpx.Limits(**limits)),  # type: ignore[arg-type]
    )


def pool(http: httpx.AsyncClient) -> Http11Transport:
    transport = http._transport  # the default transport: the one under test
    assert isinstance(transport, Http11Transport)
    return transport


async def post(http: httpx.AsyncClient, script: str, **kwargs: object) -> httpx.Response:
    return await http.post("/hook", json={"a": 1}, headers={"X-Script": script}, **kwargs)  # type: ignore[arg-type]


async def test_one_connection_carries_request_after_request() -> None:
    async with scripted_server({"ok": OK}) as server, client(server) as http:
        for _ in range(5):
            assert (await post(http, "ok")).status_code == 200
        assert server.connections == 1
        assert pool(http).connections_made == 1


async def test_an_answer_that_closes_is_not_reused() -> None:
    async with scripted_server({"closing": CLOSING, "ok": OK}) as server, client(server) as http:
        assert (await post(http, "closing")).status_code == 200
        assert (await post(http, "ok")).status_code == 200
        assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_used() -> None:
    async with scripted_server({"later": CLOSES_LATER, "ok": OK}) as server, client(server) as http:
        assert (await post(http, "later")).status_code == 200
        # The server's close arrives while the connection is idle (however loaded the machine).
        for _ in range(500):
            idle = [conn for conns in pool(http)._idle.values() for conn in conns]
            if server.open == 0 and all(conn.closed for conn in idle):
                break
            await asyncio.sleep(0.01)
        assert (await post(http, "ok")).status_code == 200
        assert server.connections == 2


async def test_a_body_left_unread_closes_its_connection() -> None:
    async with scripted_server({"huge": HUGE, "ok": OK}) as server, client(server) as http:
        base = f"http://127.0.0.1:{server.port}"
        answer = await call(
            http, "POST", base + "/", what="sink", request_timeout=2, secrets=[], headers={"X-Script": "huge"}
        )
        assert len(answer.text) == 64 * 1024  # relay reads 64 KB of an answer, no more
        assert (await post(http, "ok")).status_code == 200
        assert server.connections == 2
        assert len(pool(http)._open) == 1


async def test_no_more_connections_than_the_bound() -> None:
    async with scripted_server({"slow": SLOW}) as server, client(server, max_connections=2) as http:
        answers = await asyncio.gather(*(post(http, "slow") for _ in range(6)))
        assert [a.status_code for a in answers] == [200] * 6
        assert server.most_open == 2


async def test_waiting_for_a_connection_has_the_pool_timeout() -> None:
    async with scripted_server({"silent": SILENT}) as server, client(server, max_connections=1) as http:
        stuck = asyncio.create_task(post(http, "silent"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await post(http, "silent", timeout=httpx.Timeout(2, pool=0.1))
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck


async def test_an_idle_connection_is_kept_no_longer_than_keepalive_expiry() -> None:
    async with scripted_server({"ok": OK}) as server, client(server, keepalive_expiry=0.05) as http:
        await post(http, "ok")
        await asyncio.sleep(0.1)
        await post(http, "ok")
        assert server.connections == 2


async def test_no_more_idle_connections_than_the_keepalive_bound() -> None:
    async with scripted_server({"slow": SLOW}) as server, client(server, max_keepalive_connections=1) as http:
        await asyncio.gather(*(post(http, "slow") for _ in range(3)))
        assert server.most_open == 3
        assert len(pool(http)._open) == 1


async def test_a_cancelled_request_frees_its_connection() -> None:
    async with (
        scripted_server({"silent": SILENT, "ok": OK}) as server,
        client(server, max_connections=1) as http,
    ):
        stuck = asyncio.create_task(post(http, "silent"))
        await asyncio.sleep(0.05)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert not pool(http)._open
        assert (await post(http, "ok", timeout=httpx.Timeout(2, pool=0.5))).status_code == 200


async def test_nothing_listening_is_a_connect_error_relay_retries() -> None:
    async with scripted_server({}) as server:
        port = server.port
    async with delivery_client(timeout=2, user_agent="relay/test") as http:
        with pytest.raises(DeliveryError) as raised:
            await call(http, "POST", f"http://127.0.0.1:{port}/", what="sink", request_timeout=2, secrets=[])
    assert raised.value.reason == "connect"


async def test_https_with_the_trusted_certificate_and_without(tmp_path: Path) -> None:
    cert, key = self_signed(require_binary("openssl"), tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with scripted_server({"ok": OK}, ssl_context=server_side) as server:
        url = f"https://127.0.0.1:{server.port}/hook"
        async with httpx.AsyncClient(transport=Http11Transport(ssl_context=trusting)) as http:
            for _ in range(3):
                answer = await call(
                    http,
                    "POST",
                    url,
                    what="sink",
                    request_timeout=2,
                    secrets=[],
                    json={},
                    headers={"X-Script": "ok"},
                )
                assert answer.status == 200
            assert pool(http).connections_made == 1
        # The default trust (certifi, as httpx's): a self-signed certificate is refused.
        async with delivery_client(timeout=2, user_agent="relay/test") as http:
            with pytest.raises(DeliveryError) as raised:
                await call(http, "POST", url, what="sink", request_timeout=2, secrets=[])
        assert raised.value.reason == "connect"
        assert "CERTIFICATE_VERIFY_FAILED" in raised.value.message


async def test_a_proxy_from_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async with scripted_server({"ok": OK}) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with delivery_client(timeout=2, user_agent="relay/test") as http:
            answer = await call(
                http, "POST", "http://hooks.example.invalid/x", what="hook", request_timeout=2, secrets=[],
                json={"a": 1}, headers={"X-Script": "ok"},
            )  # fmt: skip
    assert answer.status == 200
    assert [r.target for r in proxy.received["ok"]] == ["http://hooks.example.invalid/x"]


async def test_an_answer_to_head_ends_with_its_headers() -> None:
    """A HEAD answer announces a length it does not send: it ends at its headers, and its
    connection is not reused (what might follow it is not parsed)."""
    head = Script(head=b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
    async with scripted_server({"head": head, "ok": OK}) as server, client(server) as http:
        answer = await http.head("/hook", headers={"X-Script": "head"})
        assert (answer.status_code, answer.content, answer.headers["content-length"]) == (200, b"", "1234")
        assert (await post(http, "ok")).status_code == 200
        assert server.connections == 2


async def test_a_private_ca_in_ssl_cert_file_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """operations.md: "A private CA goes in SSL_CERT_FILE"."""
    cert, key = self_signed(require_binary("openssl"), tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    async with (
        scripted_server({"ok": OK}, ssl_context=server_side) as server,
        delivery_client(timeout=2, user_agent="relay/test") as http,
    ):
        answer = await call(
            http, "POST", f"https://127.0.0.1:{server.port}/hook", what="sink", request_timeout=2,
            secrets=[], json={}, headers={"X-Script": "ok"},
        )  # fmt: skip
    assert answer.status == 200


async def test_a_request_with_credentials_takes_the_clients_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """call() skips the client's send only for a request without credentials: one with
    auth given, or a user:password@ in its URL, goes through the client's auth flow."""
    sent: list[httpx.Request] = []
    original = httpx.AsyncClient.send

    async def counting(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        sent.append(request)
        return await original(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", counting)
    async with (
        scripted_server({"ok": OK}) as server,
        delivery_client(timeout=2, user_agent="relay/t") as http,
    ):
        base = f"http://127.0.0.1:{server.port}"

        async def status(url: str, **kwargs: Any) -> int:
            answer = await call(
                http, "POST", url, what="hook", request_timeout=2, secrets=[], json={},
                headers={"X-Script": "ok"}, **kwargs,
            )  # fmt: skip
            return answer.status

        assert await status(f"{base}/plain") == 200
        assert sent == []  # straight to the transport
        assert await status(f"{base}/basic", auth=httpx.BasicAuth("am", "pw")) == 200
        assert await status(base.replace("http://", "http://am:pw@") + "/in-url") == 200
        assert await status(f"{base}/again") == 200
    assert [r.url.path for r in sent] == ["/basic", "/in-url"]
    authorization = [
        dict((k.lower(), v) for k, v in r.headers).get("authorization") for r in server.received["ok"]
    ]
    assert authorization == [None, "Basic YW06cHc=", "Basic YW06cHc=", None]
