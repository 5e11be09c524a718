"""Tencent Cloud API 3.0, as the voice and SMS channels call it: JSON over POST, signed with
TC3-HMAC-SHA256, answers ``{"Response": {...}}`` with ``Error.Code`` on failure.

The signature, as Tencent Cloud documents it:
1. The canonical request: the method, ``/``, an empty query, the headers
   ``content-type`` and ``host`` (lower-case, in that order), their names, and the
   SHA-256 hex of the body.
2. The string to sign: ``TC3-HMAC-SHA256``, the timestamp, the credential scope
   ``<UTC date>/<service>/tc3_request``, and the SHA-256 hex of the canonical request.
3. The key: HMAC-SHA256 chained from ``"TC3" + SecretKey`` over the date, then the
   service, then ``tc3_request``.

The ``Authorization`` header names the SecretId, the scope, the signed headers and the
signature.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from relay.channels.base import Message
from relay.channels.http import Answer, call
from relay.channels.phone import PhoneConfig, PhoneNotifier
from relay.core.errors import DeliveryError, PermanentError, RetryableError

CONTENT_TYPE = "application/json; charset=utf-8"
#: Error codes -> what to change (the rest of the code family is looked up by prefix).
EXPLAIN = {
    "AuthFailure.SignatureFailure": "secret_key does not match secret_id",
    "AuthFailure.SecretIdNotFound": "secret_id does not exist: check it in 访问管理 → API密钥",
    "AuthFailure.SignatureExpire": "this host's clock is more than 5 minutes off",
    "AuthFailure.UnauthorizedOperation": "the sub-account lacks QcloudVMSFullAccess or QcloudSMSFullAccess",
    "FailedOperation.TemplateIncorrectOrUnapproved": "template_id is wrong or its template is not approved",
    "FailedOperation.SignatureIncorrectOrUnapproved": "sign_name is wrong or the signature is not approved",
    "InvalidParameterValue.TemplateParameterFormatError": "a template parameter breaks the template's rules",
    "InvalidParameterValue.TemplateParameterLengthLimit": "a parameter is too long: lower param_limit",
    "InvalidParameterValue.IncorrectPhoneNumber": "a number in to (or a person's phone) is not valid",
    "FailedOperation.InsufficientBalanceInSmsPackage": "the SMS package is used up: top it up",
    "UnauthorizedOperation.SdkAppIdIsDisabled": "sdk_app_id is disabled",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "sdk_app_id is not this account's",
}
#: Codes worth waiting for: the vendor's rate limits and its own failures.
RETRYABLE_PREFIXES = (
    "LimitExceeded",
    "RequestLimitExceeded",
    "InternalError",
    "FailedOperation.FrequencyLimit",
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_headers(
    *,
    secret_id: str,
    secret_key: str,
    url: str,
    service: str,
    action: str,
    version: str,
    region: str,
    body: bytes,
    timestamp: int,
) -> dict[str, str]:
    """The headers of a signed request."""
    host = urlsplit(url).netloc
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "Authorization": (
            f"TC3-HMAC-SHA256 Credential={secret_id}/{scope},"
            f" SignedHeaders=content-type;host, Signature={signature}"
        ),
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
    }
    if region:
        headers["X-TC-Region"] = region
    return headers


def tencent_check(what: str) -> Any:
    """The outcome check of Tencent Cloud answers: ``Response.Error`` is a failure,
    retryable for rate limits and internal errors, else permanent with a hint."""

    def check(answer: Answer) -> DeliveryError | None:
        data = answer.data
        response = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(response, dict):
            if answer.status >= 500:
                return None  # the status decides (retryable)
            return RetryableError("bad_response", f"{what}: HTTP {answer.status} without a Response")
        error = response.get("Error")
        if not isinstance(error, dict):
            return None
        return code_error(what, str(error.get("Code", "")), str(error.get("Message", "")))

    return check


def code_error(what: str, code: str, message: str) -> DeliveryError:
    """The error for a Tencent Cloud ``code`` (also a per-number SMS status)."""
    hint = EXPLAIN.get(code)
    text = f"{what}: {code}: {message}" + (f" ({hint})" if hint else "")
    reason = "code_" + code.replace(".", "_")[:60]
    if code.startswith(("LimitExceeded", "FailedOperation.FrequencyLimit")):
        # A limit per number, per app or per day: waited out (past the retry window, the
        # job is dead with this message). Not the whole destination held: other numbers
        # of the same app may still be called.
        return RetryableError(reason, text, _window(code))
    if code.startswith(RETRYABLE_PREFIXES):
        return RetryableError(reason, text, 1.0 if code.startswith("RequestLimitExceeded") else None)
    return PermanentError(reason, text)


def _window(code: str) -> float:
    """The limit's window as the code names it (a minute when it does not)."""
    for word, seconds in (("ThirtySecond", 30.0), ("Hour", 3600.0), ("Daily", 86400.0), ("Day", 86400.0)):
        if word in code:
            return seconds
    return 60.0


class TencentPhoneConfig(PhoneConfig):
    """What Tencent Cloud's voice and SMS channels share."""

    secret_fields: ClassVar[tuple[str, ...]] = ("secret_id", "secret_key")
    vendor_fields: ClassVar[tuple[str, ...]] = ("secret_id", "secret_key", "api_url")

    secret_id: SecretStr
    secret_key: SecretStr
    sdk_app_id: str
    template_id: str
    region: str = "ap-guangzhou"

    @field_validator("sdk_app_id", "template_id", mode="before")
    @classmethod
    def _digits(cls, value: Any) -> str:
        if not str(value).isdigit():
            raise ValueError("must be the number the console shows (digits)")
        return str(value)


T = TypeVar("T", bound=TencentPhoneConfig)


class TencentPhoneNotifier(PhoneNotifier[T]):
    """A Tencent Cloud API 3.0 request per number, signed. Subclasses say which API and
    what the request is."""

    service = ""
    action = ""
    version = ""
    what = ""
    medium = "call"

    def account(self) -> str:
        return f"{self._cfg.api_url}|{self._cfg.sdk_app_id}"

    @abc.abstractmethod
    def request(self, number: str, params: list[str]) -> dict[str, Any]:
        """The API's request body for one number."""

    def requests(
        self, number: str, params: list[str], message: Message | None
    ) -> list[tuple[str, dict[str, Any]]]:
        return [(self.medium, self.request(number, params))]

    def result(self, response: dict[str, Any]) -> dict[str, Any]:
        """What to keep of an accepted answer (the call or message id); may raise."""
        return {}

    async def deliver(self, number: str, medium: str, request: dict[str, Any], job: str) -> dict[str, Any]:
        cfg = self._cfg
        raw = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
        headers = tc3_headers(
            secret_id=cfg.secret_id.get_secret_value(),
            secret_key=cfg.secret_key.get_secret_value(),
            url=cfg.api_url,
            service=self.service,
            action=self.action,
            version=self.version,
            region=cfg.region,
            body=raw,
            timestamp=int(self._ctx.renderer.now().timestamp()),
        )
        answer = await call(
            self._ctx.http,
            "POST",
            cfg.api_url + "/",
            what=self.what,
            request_timeout=self._ctx.timeout,
            secrets=[*cfg.secrets(), number],
            content=raw,
            headers=headers,
            check=tencent_check(self.what),
            expect_json=True,
        )
        response = answer.data.get("Response") if isinstance(answer.data, dict) else None
        return self.result(response if isinstance(response, dict) else {})
