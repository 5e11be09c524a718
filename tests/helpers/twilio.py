"""Twilio's side, written from its documentation: the REST API's Basic auth and error
bodies, and the ``X-Twilio-Signature`` it puts on the callbacks it sends (base64 of
HMAC-SHA1, keyed with the auth token, of the full URL followed by each POST field's
name and value, sorted by name); a local fake of the Calls and Messages resources."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl

from tests.helpers.vendor_server import VendorServer

ACCOUNT_SID, AUTH_TOKEN = "AC" + "0123456789abcdef" * 2, "twilio-auth-token-0123"


def twilio_signature(url: str, fields: dict[str, str], token: str = AUTH_TOKEN) -> str:
    data = url
    for name in sorted(fields):
        data += name + fields[name]
    return base64.b64encode(
        hmac.new(token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    ).decode()


def basic(sid: str = ACCOUNT_SID, token: str = AUTH_TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


class FakeTwilio:
    """``POST /2010-04-01/Accounts/{sid}/Calls.json`` and ``Messages.json``; a request
    with the wrong credentials gets Twilio's 20003."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self.messages: list[dict[str, str]] = []
        self.answers: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self._server = VendorServer(self._handle)

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        json_type = {"Content-Type": "application/json"}
        if headers.get("authorization") != basic():
            answer = {"code": 20003, "message": "Authenticate", "status": 401}
            return 401, json_type, json.dumps(answer).encode()
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        prefix = f"/2010-04-01/Accounts/{ACCOUNT_SID}/"
        if self.answers:
            status, extra, answer = self.answers.pop(0)
            return status, {**json_type, **extra}, json.dumps(answer).encode()
        if path == prefix + "Calls.json":
            self.calls.append(form)
            sid = f"CA{len(self.calls):032x}"
            return 201, json_type, json.dumps({"sid": sid, "status": "queued", "to": form["To"]}).encode()
        if path == prefix + "Messages.json":
            self.messages.append(form)
            sid = f"SM{len(self.messages):032x}"
            return 201, json_type, json.dumps({"sid": sid, "status": "queued", "to": form["To"]}).encode()
        return 404, json_type, json.dumps({"code": 20404, "message": "not found", "status": 404}).encode()

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> FakeTwilio:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
