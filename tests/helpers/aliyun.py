"""Alibaba Cloud's side of a signed RPC request, written from its documentation (RPC
风格签名, signature version 1.0, HMAC-SHA1), so relay's own signing is never what checks
relay; and a local fake of the voice and SMS APIs that refuses a request whose
signature, timestamp or nonce is wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from tests.helpers.vendor_server import VendorServer

ACCESS_KEY_ID, ACCESS_KEY_SECRET = "LTAI5tExampleKeyId0001", "aliyun-secret-0123456789"
#: A call's record as QueryCallDetailByCallId's Data gives it: answered, 21 s.
ANSWERED = {
    "state": "200000",
    "stateDesc": "用户听音结束",
    "duration": 21,
    "startDate": "2026-12-07 03:00:05",
}
MISSED = {"state": "200010", "stateDesc": "用户未接听", "duration": 0, "startDate": ""}


def _encode(text: str) -> str:
    # The documentation's recipe: URL-encode as Java's URLEncoder does (UTF-8), then
    # "+" -> "%20", "*" -> "%2A", "%7E" -> "~".
    return quote_plus(text, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def expected_signature(form: dict[str, str], secret: str = ACCESS_KEY_SECRET, method: str = "POST") -> str:
    """The ``Signature`` Alibaba Cloud computes for these parameters."""
    pairs = sorted((k, v) for k, v in form.items() if k != "Signature")
    canonical = "&".join(_encode(k) + "=" + _encode(v) for k, v in pairs)
    string_to_sign = method + "&" + _encode("/") + "&" + _encode(canonical)
    mac = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def refusal(form: dict[str, str], now: float, nonces: set[str]) -> tuple[int, dict[str, Any]] | None:
    """What Alibaba Cloud answers a request it does not accept, or None."""
    if form.get("AccessKeyId") != ACCESS_KEY_ID:
        return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}
    if form.get("Signature") != expected_signature(form):
        return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched."}
    stamp = datetime.strptime(form.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if abs(stamp.timestamp() - now) > 900:
        return 400, {"Code": "InvalidTimeStamp.Expired", "Message": "Specified time stamp is expired."}
    nonce = form.get("SignatureNonce", "")
    if not nonce or nonce in nonces:
        return 400, {"Code": "SignatureNonceUsed", "Message": "Specified signature nonce was used already."}
    nonces.add(nonce)
    for common, value in (("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"), ("Format", "JSON")):
        if form.get(common) != value:
            return 400, {"Code": "MissingParameter", "Message": f"{common} is wrong"}
    return None


class FakeAliyun:
    """``SingleCallByTts`` and ``SendSms`` on loopback. ``answers``: scripted answers
    (status, body) for the next accepted requests; then OK with an id."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        import time

        self.now = now or time.time
        self.calls: list[dict[str, str]] = []
        self.refused: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        #: QueryCallDetailByCallId's records, one per query in turn (None: not in yet);
        #: when they run out, the call was answered.
        self.records: list[dict[str, Any] | None] = []
        self.queries: list[dict[str, str]] = []
        self._nonces: set[str] = set()
        self._server = VendorServer(self._handle)

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        refused = refusal(form, self.now(), self._nonces)
        if refused is not None:
            self.refused.append(refused[1])
            status, answer = refused
        elif form.get("Action") == "QueryCallDetailByCallId":
            self.queries.append(form)
            record = self.records.pop(0) if self.records else ANSWERED
            status, answer = (
                200,
                {"Code": "OK", "Data": json.dumps(record, ensure_ascii=False) if record else ""},
            )
        else:
            self.calls.append(form)
            if self.answers:
                status, answer = self.answers.pop(0)
            elif form.get("Action") == "SingleCallByTts":
                status, answer = 200, {"Code": "OK", "Message": "OK", "CallId": f"11601^{len(self.calls)}"}
            else:
                status, answer = 200, {"Code": "OK", "Message": "OK", "BizId": f"biz^{len(self.calls)}"}
        answer.setdefault("RequestId", "8906582E-6722")
        return status, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> FakeAliyun:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
