"""The delivery benchmark's look at the sink's count must cost the machine next to
nothing: it runs every 20 ms while relay, the process measured, delivers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

import bench.delivery


class _Count(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"42")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Count)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_sink_is_polled_through_one_client(sink: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A client per look (httpx.get) builds a TLS context each time: 28 ms of CPU, which
    # polled every 20 ms took half a core from relay in the benchmark's relay rounds.
    built: list[httpx.Client] = []

    class CountedClient(httpx.Client):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            built.append(self)

    monkeypatch.setattr(httpx, "Client", CountedClient)
    monkeypatch.setattr(httpx, "get", lambda *a, **k: pytest.fail("httpx.get builds a client per call"))
    bench.delivery._poller.cache_clear()
    try:
        assert [bench.delivery.sink_count(sink) for _ in range(5)] == [42] * 5
        assert len(built) == 1
    finally:
        bench.delivery._poller.cache_clear()
