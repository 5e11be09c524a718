"""Generic webhooks: the v4 payload (or a template) with idempotency and HMAC signature."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import Field, SecretStr, model_validator

from relay import __version__
from relay.channels.base import (
    Channel,
    ChannelConfig,
    Delivery,
    Message,
    Notifier,
    NotifierContext,
    Preview,
)
from relay.channels.http import call
from relay.channels.parts import JobMessage
from relay.channels.vendors import owner_of_url
from relay.core.alerts import Notification
from relay.core.digests import Digest, DigestMessage
from relay.core.durations import Duration, within
from relay.core.errors import DeliveryError
from relay.core.said import Said
from relay.core.secrets import SecretFieldsModel
from relay.templating.digest import render_digest

# Header names whose values are credentials even though ``headers`` is a plain map.
_SECRET_HEADER = re.compile(r"auth|key|token|secret|signature|cookie|password", re.I)


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
    timeout: Annotated[Duration, within(0.001, 600)] | None = None
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

    def config_warnings(self) -> list[tuple[str, str]]:
        """A chat robot's URL with Alertmanager's JSON body is refused by the robot; with a
        ``body_template`` of its format it is a deliberate choice."""
        owner = owner_of_url(self.url.get_secret_value())
        if owner is None or self.body_template is not None:
            return []
        return [
            (
                "url",
                Said(
                    f"is {owner.what}, which refuses the webhook channel's Alertmanager JSON: "
                    f"use {owner.belongs}, or give a body_template in its format",
                    f"是{owner.what_zh or owner.what}，它不接受 webhook 通道发送的 Alertmanager JSON："
                    f"请改用 {owner.belongs}，或按它的格式写 body_template",
                ),
            )
        ]

    def secrets(self) -> list[str]:
        values = super().secrets()
        if self.basic_auth is not None:
            password = self.basic_auth.password.get_secret_value()
            values += [password, f"{self.basic_auth.username}:{password}"]
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
        self._locale = config.locale or ctx.locale
        self._timeout = config.timeout or ctx.timeout
        url = config.url.get_secret_value()
        # Parsed once: parsing it for every request was a tenth of httpx's share of a
        # delivery. One httpx refuses is left as text, for call() to report per attempt.
        self._target: httpx.URL | str = url
        with contextlib.suppress(httpx.InvalidURL):
            self._target = httpx.URL(url)
        self._secrets = config.secrets()
        auth = config.basic_auth
        self._auth = httpx.BasicAuth(auth.username, auth.password.get_secret_value()) if auth else None

    def cut(self, notification: Notification) -> Notification:
        """The notification with at most ``max_alerts`` alerts; the rest counted as truncated."""
        limit = self._cfg.max_alerts
        if not limit or len(notification.alerts) <= limit:
            return notification
        return notification.model_copy(
            update={
                "alerts": notification.alerts[:limit],
                "truncated_alerts": notification.truncated_alerts + len(notification.alerts) - limit,
            }
        )

    def payload(self, message: Message, notification: Notification) -> dict[str, Any]:
        """The default body: Alertmanager's v4 webhook plus a ``relay`` object."""
        body = notification.to_v4()
        body["relay"] = {
            "receiver": notification.receiver,
            "group_key": notification.group_key,
            "notification_reason": notification.reason,
            "idempotency_key": message.job_id,
            "integration": message.integration,
            "silence_url": notification.silence_url,
        }
        links = self._renderer.action_links(notification, self._locale)
        if links:
            # Acknowledge / Silence links to relay's action pages, for a receiver to show.
            body["relay"]["actions"] = [{k: x[k] for k in ("action", "seconds", "url")} for x in links]
        escalation = notification.escalation
        if escalation is not None:
            # An escalation step: whom it pages, for a receiver that pages them itself.
            body["relay"]["escalation"] = {
                "policy": escalation.policy,
                "step": escalation.step,
                "round": escalation.round,
            }
            body["relay"]["targets"] = [
                {
                    "target": t.target,
                    "people": [{"name": p, "display_name": escalation.shown(p)} for p in t.people],
                }
                for t in escalation.targets
            ]
        return body

    def body(self, message: Message) -> tuple[bytes, str]:
        """The bytes to send and their Content-Type."""
        notification = self.cut(message.notification)
        payload = self.payload(message, notification)
        if self._cfg.body_template is None:
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            return text.encode(), "application/json"
        text = self._renderer.render_string(
            self._cfg.body_template,
            notification,
            locale=self._locale,
            fallback="webhook.body",
            payload=payload,
            relay=payload["relay"],
        )
        try:
            json.loads(text)
        except ValueError:
            return text.encode(), "text/plain; charset=utf-8"
        return text.encode(), "application/json"

    def headers(self, message: JobMessage, body: bytes, content_type: str) -> dict[str, str]:
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

    def preview(self, message: Message) -> Preview:
        body, content_type = self.body(message)
        text = body.decode("utf-8", "replace")
        is_json = content_type == "application/json"
        note = f"webhook: {content_type}, {len(body)} bytes as sent{' (shown indented)' if is_json else ''}"
        shown = json.dumps(json.loads(text), ensure_ascii=False, indent=2) if is_json else text
        return Preview(text=shown, note=note, parts=[text], sizes=[len(body)], unit="bytes")

    # -- digests: one JSON object (no size limit to split for)

    def digest_object(self, job_id: str, digest: Digest) -> dict[str, Any]:
        """The JSON a digest is posted as: totals, one entry per group with every alert's
        fingerprint and the merged notifications' job ids, and the rendered text."""
        text = render_digest(self._renderer, "webhook.digest", digest, locale=self._locale, limit=None)[0]
        return {
            "version": "relay.digest/1",
            "kind": digest.kind,
            "receiver": digest.receiver,
            "groups": digest.groups,
            "firing": digest.firing,
            "resolved": digest.resolved,
            "window": ({"start": digest.window[0], "end": digest.window[1]} if digest.window else None),
            "externalURL": digest.external_url,
            "entries": [
                {
                    "group_key": e.display_key,
                    "status": e.status,
                    "alertname": e.alertname,
                    "labels": e.labels,
                    "firing": e.firing,
                    "resolved": e.resolved,
                    "summaries": e.summaries,
                    "fingerprints": e.fingerprints,
                    "notifications": e.job_ids,
                }
                for e in digest.entries
            ],
            "text": text,
            "relay": {"idempotency_key": job_id, "integration": digest.integration},
        }

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        return [self.digest_object("", digest)]

    async def send_digest(self, message: DigestMessage) -> Delivery:
        payload = self.digest_object(message.job_id, message.digest)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return await self._post(body, self.headers(message, body, "application/json"))

    async def send(self, message: Message) -> Delivery:
        body, content_type = self.body(message)
        return await self._post(body, self.headers(message, body, content_type))

    async def _post(self, body: bytes, headers: dict[str, str]) -> Delivery:
        """POST ``body``; it is the attempt's ``sent`` whether the answer is good or not."""
        sent = [body.decode("utf-8", "replace")]
        try:
            answer = await call(
                self._http,
                "POST",
                self._target,
                what="webhook",
                request_timeout=self._timeout,
                secrets=self._secrets,
                content=body,
                headers=headers,
                auth=self._auth,
            )
        except DeliveryError as exc:
            raise exc.with_sent(sent) from None
        return Delivery(data={"status": answer.status}, sent=sent)


CHANNELS = (
    Channel(
        "webhook",
        WebhookConfig,
        templates=("webhook.body", "webhook.digest"),
        preview_settings={"url": "https://hooks.example.com/alerts"},
        template_keys=("body_template",),
    ),
)
