"""Tencent Cloud's side of a signed request, written from its documentation (签名方法 v3,
TC3-HMAC-SHA256), so relay's own signing is never what checks relay; and a local fake
of the voice API that refuses a request whose signature does not match."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET_ID, SECRET_KEY = "AKIDexample0123456789", "tencent-secret-key-0123"


def tc3_expected(headers: dict[str, str], host: str, body: bytes, service: str) -> str:
    """The Authorization header Tencent Cloud computes for this request."""
    stamp = headers["x-tc-timestamp"]
    date = datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:{headers['content-type']}\nhost:{host}\n\n"
        f"content-type;host\n{hashlib.sha256(body).hexdigest()}"
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"

    def step(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = step(step(step(("TC3" + SECRET_KEY).encode(), date), service), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope},"
        f" SignedHeaders=content-type;host, Signature={signature}"
    )


class FakeTencentVoice:
    """``SendTtsVoice`` on loopback: a call is recorded only when its signature matches."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refused: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                host = headers.get("host", "")
                if headers.get("authorization") != tc3_expected(headers, host, body, "vms"):
                    fake.refused.append(headers.get("authorization", ""))
                    answer = {
                        "Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}}
                    }
                else:
                    fake.calls.append(json.loads(body))
                    answer = {
                        "Response": {"SendStatus": {"CallId": f"call-{len(fake.calls)}"}, "RequestId": "r"}
                    }
                data = json.dumps(answer).encode()
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
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeTencentVoice:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
