"""How `relay serve` runs uvicorn: read timeouts, a connection cap, the open-file limit.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) but not the time a
client may take to send a request: a connection that sends half a request line and
stalls is held forever, and enough of them use up the open files so that nothing else
is accepted. :func:`protocol_class` wraps uvicorn's HTTP protocol with:

- a header timer: a request's line and headers must arrive within ``read_timeout`` of
  the connection (or, on a kept-alive connection, of the request's first byte); else
  relay answers 408 and closes. The body is bounded by ingest's own reader.
- a connection cap: past ``max_connections`` open connections, the new connection's
  request is answered 503 with Retry-After and the connection closed (uvicorn's own
  ``limit_concurrency`` answers without Retry-After, and relay's metrics never see it).
  The last eighth of the connections is kept for Alertmanager: a connection opened there
  may post webhooks, and anything else on it is answered 503 and closed, so clients
  holding keep-alive connections to ``/-/healthy`` or the console cannot take them all.
- a bound on the request head: a request line longer than MAX_REQUEST_LINE is answered
  414, a head (line and headers) over MAX_HEAD_BYTES or with more than MAX_HEADERS
  headers 431, and the connection closed, before the parser buffers any more of it (64 MB
  of headers on 8 connections used to take 600 MB).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("relay.server")

# Files relay needs besides client connections: the listening socket, the store (SQLite
# file, -wal, -shm, or Redis), outgoing HTTP/SMTP connections to destinations, logs.
FILE_RESERVE = 256
RETRY_AFTER_SECONDS = 5

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)

#: The request line (method, target, version) at most, in bytes.
MAX_REQUEST_LINE = 8 * 1024
#: The request line and headers together at most, in bytes.
MAX_HEAD_BYTES = 64 * 1024
#: Header fields of one request at most.
MAX_HEADERS = 100
#: The path prefix a connection in the reserve may use (relay.web.routes' webhook routes).
WEBHOOK_PATH = "/api/v1/alerts/webhook"

_HEAD_RESPONSE = (
    b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
)

Refused = Callable[[str], None]  # told the path of each request refused past the cap


def _json_error(message: str) -> bytes:
    return json.dumps({"error": message, "details": []}).encode()


async def _refuse(send: Any, body: bytes) -> None:
    """503 with Retry-After and the connection closed: come back later."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def overloaded_app(refused: Refused, max_connections: int) -> Any:
    """The ASGI app that answers a connection past the cap: 503 + Retry-After, close."""
    body = _json_error(f"too many connections (server.max_connections is {max_connections}); retry later")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        refused(scope["path"])
        await _refuse(send, body)

    return app


def webhooks_only(app: Any, refused: Refused) -> Any:
    """``app`` for the webhook paths; 503 + Retry-After and close for anything else (a
    connection in the reserve kept for Alertmanager)."""
    body = _json_error(
        "too many connections: the remaining ones are kept for Alertmanager's webhooks; retry later"
    )

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(WEBHOOK_PATH):
            await app(scope, receive, send)
            return
        refused(scope["path"])
        await _refuse(send, body)

    return guarded


def webhook_reserve(max_connections: int) -> int:
    """How many of ``max_connections`` are kept for webhooks: an eighth."""
    return max_connections // 8


class _Guard(asyncio.Protocol):
    """Mixed in before a uvicorn HTTP protocol class (it uses their attributes)."""

    read_timeout: ClassVar[float] = 15.0
    max_connections: ClassVar[int] = 1024
    overloaded: ClassVar[Any] = None
    refused: ClassVar[Any] = None  # Refused; Any, as a callable class attribute would read as a method

    # uvicorn's per-connection state, as both H11Protocol and HttpToolsProtocol keep it.
    connections: Any
    cycle: Any
    transport: Any
    loop: Any
    app: Any

    _header_timer: asyncio.TimerHandle | None = None
    _armed_cycle: Any = None
    _received: bool = False
    # The request head being received: its bytes and line breaks so far, and the last
    # three bytes (its end, "\r\n\r\n", may straddle two reads).
    _head_bytes: int = 0
    _head_lines: int = 0
    _head_tail: bytes = b""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        open_now = len(self.connections)
        if open_now > self.max_connections and self.overloaded is not None:
            self.app = self.overloaded  # this connection only; uvicorn reads self.app per request
        elif open_now > self.max_connections - webhook_reserve(self.max_connections) and self.refused:
            self.app = webhooks_only(self.app, self.refused)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # A new request begins: on a fresh connection (armed at connect) or after the
        # previous response (a body the app did not read counts as this phase too).
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        self._received = True
        if self._header_timer is not None and self.cycle is self._armed_cycle and self._head_too_big(data):
            return
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._armed_cycle:
            self._disarm()  # headers complete: the app has the request, ingest bounds the body

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_too_big(self, data: bytes) -> bool:
        """Count ``data`` into the request head (up to its blank line); when the head
        goes past a bound, answer 414 or 431, close, and say so."""
        seen = self._head_tail + data
        end = seen.find(b"\r\n\r\n")
        head = data if end < 0 else seen[len(self._head_tail) : end + 4]
        self._head_tail = seen[-3:]
        line_length = None  # the request line's, once it ends in what has come so far
        if self._head_lines == 0:
            newline = head.find(b"\n")
            line_length = self._head_bytes + (newline if newline >= 0 else len(head))
        self._head_bytes += len(head)
        self._head_lines += head.count(b"\n")
        if line_length is not None and line_length > MAX_REQUEST_LINE:
            self._refuse_head(414, b"URI Too Long", f"request line longer than {MAX_REQUEST_LINE} bytes")
            return True
        if self._head_bytes > MAX_HEAD_BYTES or self._head_lines > MAX_HEADERS + 2:
            self._refuse_head(
                431,
                b"Request Header Fields Too Large",
                f"request headers over {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} fields",
            )
            return True
        return False

    def _refuse_head(self, status: int, reason: bytes, message: str) -> None:
        self._disarm()
        body = _json_error(message)
        self.transport.write(_HEAD_RESPONSE % (status, reason, len(body), body))
        logger.debug("closing a connection whose request head is too big", extra={"status": status})
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._armed_cycle = self.cycle
        self._received = False
        self._head_bytes = self._head_lines = 0
        self._head_tail = b""
        self._header_timer = self.loop.call_later(self.read_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is not self._armed_cycle or self.transport.is_closing():
            return
        if self._received:
            body = _json_error(
                f"request headers not received within server.read_timeout ({self.read_timeout:g}s)"
            )
            self.transport.write(_TIMEOUT_RESPONSE % (len(body), body))
        logger.debug(
            "closing a connection that sent no complete request in time", extra={"sent_bytes": self._received}
        )
        self.transport.close()


_BASES: dict[str, type[asyncio.Protocol]] = {"h11": H11Protocol, "httptools": HttpToolsProtocol}


def protocol_class(
    http: str, *, read_timeout: float, max_connections: int, refused: Refused
) -> type[asyncio.Protocol]:
    """uvicorn's ``http=`` protocol class ('h11' or 'httptools') with relay's limits."""
    base = _BASES[http]
    return type(
        f"Relay{base.__name__}",
        (_Guard, base),
        {
            "read_timeout": read_timeout,
            "max_connections": max_connections,
            "overloaded": staticmethod(overloaded_app(refused, max_connections)),
            "refused": staticmethod(refused),
        },
    )


def default_http() -> str:
    """What uvicorn's ``http="auto"`` picks: httptools when installed, else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover
        return "h11"
    return "httptools"


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            logger.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(configured: int, open_files: int) -> int:
    """``configured``, lowered to leave FILE_RESERVE files for everything else."""
    room = max(1, open_files - FILE_RESERVE)
    if configured > room:
        logger.warning(
            "server.max_connections %d does not fit the open-file limit %d; using %d "
            "(raise the limit with ulimit -n / LimitNOFILE / the container's nofile)",
            configured,
            open_files,
            room,
        )
        return room
    return configured
