"""Alibaba Cloud's RPC APIs, as the voice (语音服务) and SMS (短信服务) channels call them:
a form POST of the action's parameters and the common ones, signed (signature version
1.0, HMAC-SHA1), answered with ``{"Code": "OK", ...}`` or an error ``Code``.

The signature, as Alibaba Cloud documents it for RPC APIs:
1. Every parameter but ``Signature``, sorted by name; each name and value
   percent-encoded (RFC 3986: only ``A-Z a-z 0-9 - _ . ~`` kept; a space is ``%20``),
   joined as ``name=value`` with ``&``: the canonical query.
2. The string to sign: ``POST&%2F&`` and the canonical query percent-encoded again.
3. ``Signature``: base64 of HMAC-SHA1 of it, keyed with ``AccessKeySecret + "&"``.

A nonce and a timestamp go into every request (the vendor refuses a nonce it has seen
and a timestamp 15 minutes off).
"""

from __future__ import annotations

import abc
import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator

from relay.channels.base import Message
from relay.channels.http import Answer, call
from relay.channels.phone import PhoneConfig, PhoneNotifier
from relay.core.errors import DeliveryError, PermanentError, RetryableError
from relay.core.secrets import mask_phone

#: Error codes -> what to change. Any other code is permanent unless retryable below.
EXPLAIN = {
    "InvalidAccessKeyId.NotFound": "access_key_id does not exist: check it in AccessKey 管理",
    "InvalidAccessKeyId.Inactive": "access_key_id is disabled",
    "SignatureDoesNotMatch": "access_key_secret does not match access_key_id",
    "InvalidTimeStamp.Expired": "this host's clock is more than 15 minutes off",
    "isp.RAM_PERMISSION_DENY": "the RAM user lacks AliyunDyvmsFullAccess or AliyunDysmsFullAccess",
    "isv.OUT_OF_SERVICE": "the account is suspended (balance): top it up",
    "isv.PRODUCT_UN_SUBSCRIPT": "the service is not activated for this account",
    "isv.PRODUCT_UNSUBSCRIBE": "the service is not activated for this account",
    "isv.AMOUNT_NOT_ENOUGH": "the balance is used up: top it up",
    "isv.TTS_TEMPLATE_ILLEGAL": "tts_code is wrong or its template is not approved",
    "isv.DISPLAY_NUMBER_ILLEGAL": "called_show_number is not a number bought in 号码管理",
    "isv.SMS_TEMPLATE_ILLEGAL": "template_code is wrong or its template is not approved",
    "isv.SMS_SIGNATURE_ILLEGAL": "sign_name is wrong or the signature is not approved",
    "isv.MOBILE_NUMBER_ILLEGAL": "a number in to (or a person's phone) is not valid",
    "isv.TEMPLATE_MISSING_PARAMETERS": "param_names lacks a variable the template has",
    "isv.INVALID_JSON_PARAM": "param_names does not match the template's variables",
    "isv.PARAM_LENGTH_LIMIT": "a variable is too long for the template: lower param_limit",
    "isv.BLACK_KEY_CONTROL_LIMIT": "a variable holds a word the vendor blocks: change the params template",
    "isv.PARAM_NOT_SUPPORT_URL": "a variable holds a URL: the vendor refuses URLs in variables",
}
#: Codes worth waiting for: the vendor's rate limits and its own failures.
RETRYABLE_PREFIXES = ("isv.BUSINESS_LIMIT_CONTROL", "Throttling", "isp.SYSTEM_ERROR", "ServiceUnavailable")
#: A flow-control answer names its window (触发分钟级流控 / 小时级 / 天级): wait that long.
_WINDOWS = (
    ("分钟", 60.0),
    ("小时", 3600.0),
    ("天", 86400.0),
    ("minute", 60.0),
    ("hour", 3600.0),
    ("day", 86400.0),
)

_UNRESERVED = "-_.~"


def percent(value: str) -> str:
    """RFC 3986 percent-encoding, as the signature wants it."""
    return quote(value, safe=_UNRESERVED)


def rpc_signature(secret: str, params: dict[str, str], method: str = "POST") -> str:
    """The ``Signature`` of ``params`` (all of them but the signature itself)."""
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_form(
    *,
    access_key_id: str,
    access_key_secret: str,
    action: str,
    version: str,
    region: str,
    params: dict[str, str],
    now: datetime,
    nonce: str,
) -> bytes:
    """The form body of a signed request."""
    every = {
        "AccessKeyId": access_key_id,
        "Action": action,
        "Format": "JSON",
        "RegionId": region,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce,
        "SignatureVersion": "1.0",
        "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": version,
        **params,
    }
    every["Signature"] = rpc_signature(access_key_secret, every)
    return "&".join(f"{percent(k)}={percent(v)}" for k, v in every.items()).encode()


def window(message: str) -> float:
    """How long a flow-control answer says to wait (a minute when it does not say)."""
    lowered = message.lower()
    for word, seconds in _WINDOWS:
        if word in lowered:
            return seconds
    return 60.0


def code_error(what: str, code: str, message: str) -> DeliveryError:
    """The error for an Alibaba Cloud ``Code``."""
    hint = EXPLAIN.get(code)
    text = f"{what}: {code}: {message}" + (f" ({hint})" if hint else "")
    reason = "code_" + re.sub(r"[^A-Za-z0-9_]", "_", code)[:60]
    if code.startswith("isv.BUSINESS_LIMIT_CONTROL"):
        # A limit per number (a minute, an hour, a day): waited out. Not the whole
        # destination held: other numbers may still be called.
        return RetryableError(reason, text, window(message))
    if code.startswith("Throttling"):
        return RetryableError(reason, text, 1.0, throttled=True)
    if code.startswith(RETRYABLE_PREFIXES):
        return RetryableError(reason, text)
    return PermanentError(reason, text)


def aliyun_check(what: str) -> Any:
    """The outcome check of an RPC answer: ``Code`` other than ``OK`` is a failure (the
    vendor answers errors with HTTP 400/403/404 and the same body)."""

    def check(answer: Answer) -> DeliveryError | None:
        data = answer.data
        if not isinstance(data, dict) or "Code" not in data:
            return None  # the status decides
        code = str(data.get("Code"))
        if code == "OK":
            return None
        return code_error(what, code, str(data.get("Message", "")))

    return check


def national(number: str) -> str:
    """An E.164 number as Alibaba Cloud writes it: mainland numbers without +86
    (``13800000001``), others with the country code and no ``+`` (``85212345678``)."""
    return number[3:] if number.startswith("+86") else number.lstrip("+")


class AliyunPhoneConfig(PhoneConfig):
    """What Alibaba Cloud's voice and SMS channels share."""

    secret_fields: ClassVar[tuple[str, ...]] = ("access_key_id", "access_key_secret")
    vendor_fields: ClassVar[tuple[str, ...]] = ("access_key_id", "access_key_secret", "api_url")

    access_key_id: SecretStr
    access_key_secret: SecretStr
    region: str = "cn-hangzhou"
    #: The template's variable names, in the order the params template's lines fill them.
    param_names: list[str] = Field(default_factory=lambda: ["name", "summary"], min_length=1)

    @field_validator("param_names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v)]
        if bad:
            raise ValueError(f"not template variable names: {', '.join(bad)} (write ${{name}} as name)")
        return value


A = TypeVar("A", bound=AliyunPhoneConfig)


class AliyunPhoneNotifier(PhoneNotifier[A]):
    """A signed RPC request per number. Subclasses say which action and its parameters."""

    action = ""
    version = "2017-05-25"
    what = ""
    medium = "call"

    def account(self) -> str:
        return f"{self._cfg.api_url}|{self._cfg.access_key_id}"

    @abc.abstractmethod
    def request(self, number: str, variables: str) -> dict[str, str]:
        """The action's own parameters for one number; ``variables``: the template's
        variables as the JSON object the vendor wants."""

    def result(self, answer: dict[str, Any]) -> dict[str, Any]:
        """What to keep of an accepted answer (the call or message id)."""
        return {}

    def shown(self, body: dict[str, Any]) -> dict[str, Any]:
        """Masked: the vendor's fields hold numbers without ``+86``, which the shared
        masking cannot tell from other digits."""
        masked = super().shown(body)
        request = dict(masked.get("request") or {})
        for field in ("CalledNumber", "PhoneNumbers"):
            if field in request:
                request[field] = mask_phone(str(request[field]))
        return {**masked, "request": request}

    def variables(self, params: list[str]) -> str:
        """``{"name": "...", ...}``: each name of ``param_names`` with its line; a
        template line missing is ``-`` (the vendor refuses an empty variable)."""
        names = self._cfg.param_names
        values = params + ["-"] * (len(names) - len(params))
        return json.dumps(dict(zip(names, values, strict=False)), ensure_ascii=False, separators=(",", ":"))

    def requests(
        self, number: str, params: list[str], message: Message | None
    ) -> list[tuple[str, dict[str, Any]]]:
        return [(self.medium, self.request(number, self.variables(params)))]

    async def deliver(self, number: str, medium: str, request: dict[str, Any], job: str) -> dict[str, Any]:
        return self.result(await self.rpc(self.action, request, number))

    async def rpc(self, action: str, request: dict[str, Any], number: str) -> dict[str, Any]:
        """One signed call of ``action``; its answer (``Code`` OK), else the error."""
        cfg = self._cfg
        body = signed_form(
            access_key_id=cfg.access_key_id.get_secret_value(),
            access_key_secret=cfg.access_key_secret.get_secret_value(),
            action=action,
            version=self.version,
            region=cfg.region,
            params={k: str(v) for k, v in request.items()},
            now=self._ctx.renderer.now(),
            nonce=uuid.uuid4().hex,
        )
        answer = await call(
            self._ctx.http,
            "POST",
            cfg.api_url + "/",
            what=self.what,
            request_timeout=self._ctx.timeout,
            secrets=[*cfg.secrets(), number, national(number)],
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            check=aliyun_check(self.what),
            expect_json=True,
        )
        data: dict[str, Any] = answer.data
        return data
