"""HTTP/1.1 for delivery: an httpx transport on asyncio's protocols and httptools' parser.

httpx's own transport (httpcore over anyio, parsing with h11) spends ~550 µs of CPU per
request; with one request per notification, that was a third of what relay spent
delivering one. This transport does the same job at a tenth of the cost, because it does
only what delivery needs:

- HTTP/1.1, keep-alive, one request per connection at a time (no pipelining);
- TLS with the context httpx would use (``httpx.create_ssl_context``: certifi, or
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``);
- the connect, write, read and pool timeouts of httpx's ``Timeout``;
- a bounded pool: ``max_connections`` open, ``max_keepalive_connections`` kept idle for at
  most ``keepalive_expiry`` seconds.

It is httpx underneath for everything else: the client still builds the request (URL,
headers, JSON, auth), and a proxy from the environment (``HTTPS_PROXY``...) is a mount of
httpx's own transport, so proxied destinations never come here. Errors are httpx's
(``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``...), so every channel reads
them as before. ``tests/test_http11_transport.py`` sends random exchanges through both
transports and compares what each sees and what the server receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from relay.channels.http_connection import Connection, Origin

#: Bytes that would end a header line early and smuggle in another (h11 refuses them too).
_FORBIDDEN_IN_HEADERS = (b"\r", b"\n", b"\0")


class _Body(httpx.AsyncByteStream):
    """The answer's body; closing it gives the connection back to the pool (or closes it
    when the body was not read to the end)."""

    def __init__(self, pool: Http11Transport, conn: Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._conn = conn
        self._read_timeout = read_timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._conn.body(self._read_timeout):
            yield chunk

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            self._pool.release(self._conn)


class Http11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with a bounded keep-alive pool; see the module's docstring."""

    def __init__(
        self, *, limits: httpx.Limits | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        limits = limits or httpx.Limits()
        unbounded = 1 << 62  # httpx's None: no bound
        self.max_connections: int = limits.max_connections or unbounded
        self.max_idle: int = (
            unbounded if limits.max_keepalive_connections is None else limits.max_keepalive_connections
        )
        self.keepalive_expiry: float = (
            float("inf") if limits.keepalive_expiry is None else limits.keepalive_expiry
        )
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._waiting: list[asyncio.Future[None]] = []
        self._closed = False
        self.connections_made = 0  # how many were opened, for tests and benchmarks

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:  # made on first https use: loading CAs takes ~20 ms
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"cannot send to a {scheme.decode(errors='replace')}:// URL")
        if not url.raw_host:
            raise httpx.UnsupportedProtocol("the URL has no host")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        head = _request_head(request)
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        if _is_chunked(request):
            body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
        origin = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        conn = await self._acquire(origin, timeouts)
        try:
            conn.start(head + body, head_only=request.method == "HEAD")
            await conn.drained(timeouts.get("write"))
            await conn.head(timeouts.get("read"))
        except BaseException:
            conn.close()
            self._forget(conn)
            raise
        return httpx.Response(
            status_code=conn.status,
            headers=conn.headers,
            stream=_Body(self, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
        )

    # -- the pool ----------------------------------------------------------------------------
    async def _acquire(self, origin: Origin, timeouts: dict[str, float | None]) -> Connection:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_expiry:
                return conn
            conn.close()  # closed by the server meanwhile, or kept too long
            self._forget(conn)
        if len(self._open) >= self.max_connections:
            self._close_an_idle_one()
        if len(self._open) >= self.max_connections:
            await self._wait_for_room(timeouts.get("pool"))
            return await self._acquire(origin, timeouts)
        return await self._connect(origin, timeouts.get("connect"))

    async def _connect(self, origin: Origin, within: float | None) -> Connection:
        scheme, host, port = origin
        hostname = host.decode("ascii")
        conn = Connection(origin)
        self._open.add(conn)  # counted while connecting: the bound holds for attempts too
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                if scheme == b"https":
                    await loop.create_connection(
                        lambda: conn, hostname, port, ssl=self.ssl_context(), server_hostname=hostname
                    )
                else:
                    await loop.create_connection(lambda: conn, hostname, port)
        except TimeoutError:
            self._forget(conn)
            raise httpx.ConnectTimeout(f"could not connect within {within:g}s") from None
        except OSError as exc:  # refused, unreachable, name not resolved, TLS (ssl.SSLError)
            self._forget(conn)
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            conn.close()
            self._forget(conn)
            raise
        self.connections_made += 1
        return conn

    def release(self, conn: Connection) -> None:
        """The answer was read (or given up): keep the connection for the next request to
        its origin, or close it."""
        reusable = conn.complete and conn.keep_alive and not conn.closed and conn.error is None
        conn.in_use = False
        if reusable and not self._closed:
            idle = self._idle.setdefault(conn.origin, [])
            conn.idle_since = time.monotonic()
            idle.append(conn)
            if sum(len(v) for v in self._idle.values()) > self.max_idle:
                self._close_an_idle_one()
        else:
            conn.close()
            self._forget(conn)
        self._wake_a_waiter()

    def _forget(self, conn: Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            idle = self._idle.get(conn.origin)
            if idle and conn in idle:
                idle.remove(conn)
            self._wake_a_waiter()

    def _close_an_idle_one(self) -> None:
        oldest: Connection | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0].idle_since < oldest.idle_since):
                oldest = idle[0]
        if oldest is not None:
            oldest.close()
            self._forget(oldest)

    async def _wait_for_room(self, within: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(within):
                await waiter
        except TimeoutError:
            raise httpx.PoolTimeout(f"no free connection within {within:g}s") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)

    def _wake_a_waiter(self) -> None:
        while self._waiting:
            waiter = self._waiting.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        self._closed = True
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers, as httpx built them (Host, Content-Length...)."""
    target = request.url.raw_path
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), target)]
    for name, value in request.headers.raw:
        if any(c in name or c in value for c in _FORBIDDEN_IN_HEADERS) or b":" in name or not name:
            raise httpx.LocalProtocolError(f"illegal header {name!r}")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


def _is_chunked(request: httpx.Request) -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def cookieless() -> CookieJar:
    """A cookie jar that keeps none: a destination's or a token endpoint's cookies are not
    sent back with the next notification."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def delivery_client(
    *, timeout: float, user_agent: str, limits: httpx.Limits | None = None
) -> httpx.AsyncClient:
    """The client every channel sends through: httpx on :class:`Http11Transport`."""
    limits = limits or httpx.Limits()
    # Built without ``transport=``: httpx ignores proxies set in the environment when one
    # is given. Built this way, each proxy (and NO_PROXY) is a mount of httpx's own
    # transport, and ours is the default for every URL no proxy takes.
    client = httpx.AsyncClient(
        timeout=timeout, headers={"User-Agent": user_agent}, limits=limits, cookies=cookieless()
    )
    client._transport = Http11Transport(limits=limits)
    return client
