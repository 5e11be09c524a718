"""Generic webhooks: the v4 payload (or a template) with idempotency and HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import Field, SecretStr, model_validator

from relay import __version__
from relay.channels.base import ChannelConfig, Delivery, Message, Notifier, NotifierContext
from relay.durations import Duration
from relay.errors import PermanentError, RetryableError, parse_retry_after
from relay.models import Notification
from relay.secrets import SecretFieldsModel, redact

# Header names whose values are credentials even though ``headers`` is a plain map.
_SECRET_HEADER = re.compile(r"auth|key|token|secret|signature|cookie|password", re.I)
_ERROR_BODY_CHARS = 200
_ERROR_BODY_BYTES = 8192  # read no more of an error response than this
_RETRY_STATUS = frozenset({408, 425, 429})


class BasicAuth(SecretFieldsModel):
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)

    username: str
    password: SecretStr


class WebhookConfig(ChannelConfig):
    kind: ClassVar[str] = "webhook"
    secret_fields: ClassVar[tuple[str, ...]] = ("url", "bearer_token", "hmac_secret")

    url: SecretStr
    headers: dict[str, str] = Field(default_factory=dict)
    basic_auth: BasicAuth | None = None
    bearer_token: SecretStr | None = None
    timeout: Duration | None = None
    max_alerts: int = Field(default=0, ge=0)
    body_template: str | None = None
    hmac_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> WebhookConfig:
        if self.basic_auth is not None and self.bearer_token is not None:
            raise ValueError("set basic_auth or bearer_token, not both")
        url = self.url.get_secret_value()
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self

    def secrets(self) -> list[str]:
        values = super().secrets()
        if self.basic_auth is not None:
            values.append(self.basic_auth.password.get_secret_value())
        # The parts of the URL that carry credentials, in case a server echoes only those.
        parts = urlsplit(self.url.get_secret_value())
        if parts.password:
            values.append(parts.password)
        values.extend(value for _, value in parse_qsl(parts.query))
        values.extend(v for k, v in self.headers.items() if _SECRET_HEADER.search(k))
        return values

    def build(self, ctx: NotifierContext) -> Notifier:
        return WebhookNotifier(self, ctx)


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Relay-Signature value: HMAC-SHA256 over ``"<timestamp>." + body``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookNotifier(Notifier):
    """POSTs one JSON (or templated) body per notification through the shared client."""

    clock: Callable[[], float] = staticmethod(time.time)  # signature timestamps

    def __init__(self, config: WebhookConfig, ctx: NotifierContext) -> None:
        self._cfg = config
        self._http = ctx.http
        self._renderer = ctx.renderer
        self._locale = config.locale or ctx.config.global_.locale
        self._timeout = config.timeout or ctx.timeout
        self._url = config.url.get_secret_value()
        self._secrets = config.secrets()
        auth = config.basic_auth
        self._auth = (
            httpx.BasicAuth(auth.username, auth.password.get_secret_value()) if auth else None
        )

    def cut(self, notification: Notification) -> Notification:
        """The notification with at most ``max_alerts`` alerts; the rest counted as truncated."""
        limit = self._cfg.max_alerts
        if not limit or len(notification.alerts) <= limit:
            return notification
        return notification.model_copy(update={
            "alerts": notification.alerts[:limit],
            "truncated_alerts": notification.truncated_alerts + len(notification.alerts) - limit,
        })

    def payload(self, message: Message, notification: Notification) -> dict[str, Any]:
        """The default body: Alertmanager's v4 webhook plus a ``relay`` object."""
        body = notification.to_v4()
        body["relay"] = {
            "receiver": notification.receiver,
            "group_key": notification.group_key,
            "notification_reason": notification.reason,
            "idempotency_key": message.job_id,
            "integration": message.integration,
        }
        return body

    def body(self, message: Message) -> tuple[bytes, str]:
        """The bytes to send and their Content-Type."""
        notification = self.cut(message.notification)
        payload = self.payload(message, notification)
        if self._cfg.body_template is None:
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            return text.encode(), "application/json"
        text = self._renderer.render_string(
            self._cfg.body_template, notification, locale=self._locale,
            fallback="webhook.body", payload=payload, relay=payload["relay"],
        )
        try:
            json.loads(text)
        except ValueError:
            return text.encode(), "text/plain; charset=utf-8"
        return text.encode(), "application/json"

    def headers(self, message: Message, body: bytes, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type, "User-Agent": f"relay/{__version__}"}
        headers.update(self._cfg.headers)
        headers["Idempotency-Key"] = message.job_id
        if self._cfg.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self._cfg.bearer_token.get_secret_value()}"
        if self._cfg.hmac_secret is not None:
            timestamp = int(self.clock())
            secret = self._cfg.hmac_secret.get_secret_value().encode()
            headers["X-Relay-Timestamp"] = str(timestamp)
            headers["X-Relay-Signature"] = sign(secret, timestamp, body)
        return headers

    async def send(self, message: Message) -> Delivery:
        body, content_type = self.body(message)
        headers = self.headers(message, body, content_type)
        auth = self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT
        try:
            async with self._http.stream(
                "POST", self._url, content=body, headers=headers, auth=auth,
                timeout=self._timeout,
            ) as response:
                if response.is_success:
                    return Delivery(data={"status": response.status_code})
                head = await _read_head(response, _ERROR_BODY_BYTES)
        except httpx.TimeoutException as exc:
            raise RetryableError("timeout", self._clean(str(exc) or "timed out")) from None
        except httpx.ConnectError as exc:
            raise RetryableError("connect", self._clean(str(exc) or "cannot connect")) from None
        except httpx.TransportError as exc:  # reset mid-response, protocol errors, proxies
            raise RetryableError("transport", self._clean(str(exc) or type(exc).__name__)) from None
        code = response.status_code
        words = self._clean(head.decode("utf-8", "replace"))[:_ERROR_BODY_CHARS]
        text = f"HTTP {code} {response.reason_phrase}: {words}".rstrip(": ")
        if code in _RETRY_STATUS or code >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableError(f"http_{code}", text, retry_after=retry_after)
        raise PermanentError(f"http_{code}", text)

    def _clean(self, text: str) -> str:
        return redact(" ".join(text.split()), self._secrets)


async def _read_head(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body: an error page may be huge."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]
