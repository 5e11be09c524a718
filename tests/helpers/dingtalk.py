"""A fake DingTalk robot on loopback, for end-to-end tests: it checks what DingTalk
checks (access token, 加签 signature and its age, keywords, 20,000 bytes, 20 messages a
minute with a 10-minute block) and answers with DingTalk's errcodes."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def independent_sign(secret: str, timestamp: str) -> str:
    """RFC 2104 HMAC-SHA256 by hand (no hmac module), Base64, then percent-encoded by hand:
    an implementation independent of relay's."""
    key = secret.encode()
    key = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + f"{timestamp}\n{secret}".encode())
    mac = hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner.digest()).digest()
    return "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in base64.b64encode(mac).decode())


class FakeDingTalk:
    def __init__(self, token: str, secret: str, keywords: tuple[str, ...] = ()) -> None:
        self.token, self.secret, self.keywords = token, secret, keywords
        self.received: list[dict[str, Any]] = []  # accepted bodies
        self.answers: list[int] = []  # every errcode answered
        self._sent: list[float] = []
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                code, message = fake.judge(self.path, body)
                data = json.dumps({"errcode": code, "errmsg": message}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/robot/send"

    def judge(self, path: str, body: bytes) -> tuple[int, str]:
        raw_query = urlsplit(path).query
        query = {k: v[0] for k, v in parse_qs(raw_query).items()}
        raw = dict(p.split("=", 1) for p in raw_query.split("&") if "=" in p)
        with self._lock:
            code, message = self._check(query, raw, body)
            self.answers.append(code)
            return code, message

    def _check(self, query: dict[str, str], raw: dict[str, str], body: bytes) -> tuple[int, str]:
        if query.get("access_token") != self.token:
            return 300001, "token is not exist"
        stamp = query.get("timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) / 1000 - time.time()) > 3600:
            return 310000, "sign not match, more: timestamp is invalid"
        if raw.get("sign") != independent_sign(self.secret, stamp):
            return 310000, "sign not match, more: [connId=1]"
        if len(body) > 20000:
            return 460101, "message too long, exceed 20000 bytes"
        message = json.loads(body)
        text = json.dumps(message, ensure_ascii=False)
        if self.keywords and not any(k in text for k in self.keywords):
            return 310000, "keywords not in content, more: [connId=2]"
        now = time.monotonic()
        if now < self._blocked_until or sum(1 for t in self._sent if t > now - 60) >= 20:
            self._blocked_until = now + 600
            return 130101, "send too fast, exceed 20 times per minute"
        self._sent.append(now)
        self.received.append(message)
        return 0, "ok"

    def __enter__(self) -> FakeDingTalk:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
