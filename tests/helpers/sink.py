"""A scriptable HTTP sink on loopback: plays a webhook receiver, Slack or WeCom in tests."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | dict[str, Any] = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow or hanging destination)


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Sink:
    """Answers from a script (then ``default``) and records every request it gets."""

    def __init__(self, default: Answer | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.default = default or Answer()
        self.script: deque[Answer] = deque()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with sink._lock:
                    sink._connections.add(self.connection)

            def finish(self) -> None:
                with sink._lock:
                    sink._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with sink._lock:
                    sink.received.append(Received(time.time(), self.path, dict(self.headers), body))
                    answer = sink.script.popleft() if sink.script else sink.default
                if answer.delay:
                    time.sleep(answer.delay)
                payload = answer.body
                if isinstance(payload, dict):
                    payload = json.dumps(payload)
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_PUT = do_POST
            do_GET = do_POST  # a vendor's GET endpoints (WeCom's gettoken): no body

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that hangs up (relay killed mid-request) is expected here

        self._server = Server((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Sink:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop as a server that goes away does: kept-alive connections are closed too, so
        a client's next request finds nothing listening."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self.script.extend(answers)

    def count(self) -> int:
        with self._lock:
            return len(self.received)
