"""One HTTP/1.1 connection of relay's delivery transport (relay.channels.http11): an asyncio
protocol that writes a request and parses the answer with httptools into a head and body
chunks, bounded, with httpx's errors. The pool that lends connections out is in http11.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import httptools
import httpx

#: The most a response's status line and headers may take; a server that sends more is
#: broken or hostile.
MAX_HEAD_BYTES = 64 * 1024
#: Body bytes read ahead of the reader before the socket stops being read.
READ_AHEAD_BYTES = 256 * 1024
#: (scheme, host, port): where a connection goes; connections are kept per origin.
Origin = tuple[bytes, bytes, int]


class Connection(asyncio.Protocol):
    """One connection: writes a request, parses the answer into a head and body chunks."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._wake: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.in_use = False
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.error: httpx.TransportError | None = None
        self.chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._head_bytes = 0
        self._framed = False  # Content-Length or chunked: the end is known, not the close
        self._no_body = False  # an answer to HEAD

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.in_use or self.complete:
            # Bytes nobody asked for (or after the answer): the connection cannot be trusted.
            self._fail(httpx.RemoteProtocolError("the server sent data without a request"))
            return
        if not self.head_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed answer: {exc}"))
        else:
            if not self.head_done and self._head_bytes > MAX_HEAD_BYTES:
                self._fail(httpx.RemoteProtocolError(f"answer headers over {MAX_HEAD_BYTES} bytes"))

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.in_use and not self.complete and self.error is None:
            if self.head_done and not self._framed:
                self.complete = True  # a body that ends when the connection does
            elif self.head_done:
                self.error = httpx.RemoteProtocolError(
                    "the server closed the connection before the end of the answer's body"
                )
            else:
                self.error = httpx.RemoteProtocolError("the server closed the connection without answering")
        self._notify()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- httptools callbacks -----------------------------------------------------------------
    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            return  # informational (100 Continue): its end is skipped below
        self.status = status
        self.head_done = True
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self._framed = True
        if status in (204, 304):
            self._framed = True
        self._notify()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_AHEAD_BYTES and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._notify()

    def on_message_complete(self) -> None:
        if not self.head_done:  # the end of an informational answer: the real one follows
            self.headers = []
            self.reason = b""
            self._head_bytes = 0
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._notify()

    # -- used by the transport -----------------------------------------------------------
    def _fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error
        self.close()
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def wait(self, within: float | None, on_timeout: type[httpx.TimeoutException]) -> None:
        """Until the parser has news (head, body, end) or the connection fails."""
        self._wake = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(within):
                await self._wake
        except TimeoutError:
            raise on_timeout(f"no answer within {within:g}s") from None
        finally:
            self._wake = None

    def start(self, request_bytes: bytes, *, head_only: bool) -> None:
        self._reset()
        self.in_use = True
        self._no_body = head_only
        assert self.transport is not None
        self.transport.write(request_bytes)

    async def drained(self, within: float | None) -> None:
        """Until the kernel took what was written (the write timeout)."""
        if self._writable is None or self._writable.done():
            return
        try:
            async with asyncio.timeout(within):
                await self._writable
        except TimeoutError:
            raise httpx.WriteTimeout(f"could not send the request within {within:g}s") from None

    async def head(self, within: float | None) -> None:
        while not self.head_done and self.error is None:
            await self.wait(within, httpx.ReadTimeout)
        if self.error is not None:
            raise self.error
        if self._no_body:
            self.complete = True
            self.keep_alive = False  # what follows a HEAD answer is not parsed: never reused

    async def body(self, within: float | None) -> AsyncIterator[bytes]:
        while True:
            if self.chunks:
                chunks, self.chunks, self._buffered = self.chunks, [], 0
                if self._paused and self.transport is not None and not self.closed:
                    self._paused = False
                    self.transport.resume_reading()
                for chunk in chunks:
                    yield chunk
                continue
            if self.error is not None:
                raise self.error
            if self.complete or self._no_body:
                return
            await self.wait(within, httpx.ReadTimeout)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
