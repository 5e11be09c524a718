"""Tencent Cloud's side of a signed request, written from its documentation (签名方法 v3,
TC3-HMAC-SHA256), so relay's own signing is never what checks relay; and a local fake
of the voice API that refuses a request whose signature does not match."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from tests.helpers.vendor_server import VendorServer

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
        self._server = VendorServer(self._handle)

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if headers.get("authorization") != tc3_expected(headers, headers.get("host", ""), body, "vms"):
            self.refused.append(headers.get("authorization", ""))
            answer = {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}}}
        else:
            self.calls.append(json.loads(body))
            answer = {"Response": {"SendStatus": {"CallId": f"call-{len(self.calls)}"}, "RequestId": "r"}}
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> FakeTencentVoice:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
