"""The ingest benchmark's "new group per request" load: every request a group never sent
before, in every run and from every wrk at once (two replicas get two wrk)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.ingest import five_alert_webhook, run_wrk, wrk_script
from tests.conftest import require_binary


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Record)
        self.group_keys: list[str] = []
        self.lock = threading.Lock()


class _Record(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # wrk keeps its connections open
    server: _Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.group_keys.append(json.loads(body)["groupKey"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[list[_Recorder]]:
    servers = [_Recorder(), _Recorder()]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_new_group_runs_never_repeat_a_group(receivers: list[_Recorder], tmp_path: Path) -> None:
    # wrk's math.random starts from the same seed in every process: a prefix drawn in the
    # script made every run after the first re-send the first run's groups, and made
    # the two replicas' wrk send each other's.
    require_binary("wrk")
    script = tmp_path / "unique.lua"
    script.write_text(wrk_script(json.dumps(five_alert_webhook()), unique_groups=True))
    urls = [f"http://127.0.0.1:{server.server_address[1]}" for server in receivers]
    for _ in range(2):
        assert run_wrk(urls, script, connections=2, duration=1) > 0
    keys = [key for server in receivers for key in server.group_keys]
    assert all(server.group_keys for server in receivers)
    assert len(set(keys)) == len(keys), f"{len(keys) - len(set(keys))} of {len(keys)} groups sent again"
