"""A raw HTTP/1.1 server on loopback that answers each request as a script says, byte for
byte: framing, fragments, early closes, informational answers, silence. It records what it
received, parsed on its own (not with the code under test).

The script is chosen by the request's ``X-Script`` header: ``scripts[name]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Script:
    """How one request is answered."""

    head: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    body: bytes = b""
    #: Sizes the head + body are written in (the rest in one write); pauses between them.
    fragments: list[int] = field(default_factory=list)
    #: "answer", "close_first" (close without a byte), "close_after" (send ``cut`` bytes
    #: of head + body, then close), "silent" (never answer).
    behaviour: str = "answer"
    cut: int = 0
    #: Close the connection after answering (whatever the head says).
    close: bool = False


@dataclass
class Received:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


class ScriptedServer:
    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.received: dict[str, list[Received]] = {}
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self._server: asyncio.base_events.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, ssl_context: object | None = None) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)  # type: ignore[arg-type]
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                name = dict((k.lower(), v) for k, v in request.headers).get("x-script", "")
                self.received.setdefault(name, []).append(request)
                script = self.scripts.get(name, Script())
                if not await _answer(script, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.open -= 1
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    fields = {k.lower(): v for k, v in headers}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
    else:
        body = await reader.readexactly(int(fields.get("content-length", "0")))
    return Received(method, target, headers, body)


async def _answer(script: Script, writer: asyncio.StreamWriter) -> bool:
    """Answer as the script says; False when the connection is to be closed."""
    if script.behaviour == "close_first":
        return False
    if script.behaviour == "silent":
        await asyncio.sleep(3600)
    data = script.head + script.body
    if script.behaviour == "close_after":
        data = data[: script.cut]
    for size in script.fragments:
        if not data:
            break
        writer.write(data[:size])
        data = data[size:]
        await writer.drain()
        await asyncio.sleep(0.001)
    writer.write(data)
    await writer.drain()
    return script.behaviour == "answer" and not script.close


@contextlib.asynccontextmanager
async def scripted_server(
    scripts: dict[str, Script], ssl_context: object | None = None
) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(scripts)
    await server.start(ssl_context)
    try:
        yield server
    finally:
        await server.stop()
