"""The template playground: one integration's message for a webhook, part by part with
its size against the vendor's limit, and a one-off send through that integration.

It builds the notifier exactly as `relay render` and `relay test-alert --receiver` do
(relay.pipeline.preview): the same integration lookup, placeholder settings for a bare channel,
a recording renderer for template failures (file:line) and a scratch store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from relay.channels import CHANNELS_BY_KIND as CHANNEL_KINDS
from relay.channels.base import ChannelConfig, Message, Preview
from relay.config import Config
from relay.core.alerts import Notification
from relay.core.clock import FakeClock
from relay.core.digests import DigestKind
from relay.core.errors import DeliveryError
from relay.core.integrations import kind_of
from relay.core.jobs import new_job_id
from relay.core.secrets import redact
from relay.core.text import LOCALES, normalize_locale
from relay.pipeline.preview import (
    PREVIEW_JOB_ID,
    PayloadError,
    RecordingRenderer,
    _notifier_context,
    _pick_integration,
    message_preview,
    validate_payload,
)
from relay.templating.sample import notification_from_payload, sample_notification
from relay.web.console.errors import BadRequest, NotFound


def _integration(
    config: Config, integration: str | None, channel: str | None
) -> tuple[str | None, str, ChannelConfig]:
    """(receiver, integration id, its config) of an id, or a bare channel's defaults."""
    if integration is not None:
        kind = kind_of(integration, unknown="")
        if kind not in CHANNEL_KINDS:
            raise NotFound(f"no integration {integration!r} (ids look like oncall/wecom/0)")
        notes: list[str] = []
        picked = _pick_integration(config, kind, integration, lambda text, err=False: notes.append(text))
        if picked is None or picked[1] != integration:
            raise NotFound(f"no integration {integration!r} in the config")
        return picked
    if channel is None:
        raise BadRequest(
            "give integration (an id such as oncall/wecom/0) or channel",
            [f"channels: {', '.join(CHANNEL_KINDS)}"],
        )
    if channel not in CHANNEL_KINDS:
        raise BadRequest(f"unknown channel {channel!r}", [f"channels: {', '.join(CHANNEL_KINDS)}"])
    picked = _pick_integration(config, channel, None, lambda *_a, **_k: None)
    assert picked is not None  # a bare channel always has its placeholder settings
    return picked


def _notification(payload: dict[str, Any] | None, receiver: str | None, at: float) -> Notification:
    if payload is None:
        return sample_notification(receiver or "default", now=datetime.fromtimestamp(at, UTC))
    try:
        webhook = validate_payload(payload, "payload")
    except PayloadError as exc:
        raise BadRequest(exc.problems[0], exc.problems[1:]) from None
    reason = "resolved" if webhook.status == "resolved" else "new_alerts"
    return notification_from_payload(webhook, receiver or webhook.receiver or "default", reason)


def parts_of(preview: Preview) -> list[dict[str, Any]]:
    """What a send would transmit, one entry per message sent, each counted as its
    vendor counts it (the channel's own Notifier.preview or digest_preview)."""
    parts = preview.parts or [preview.text]
    sizes = preview.sizes or [len(p.encode("utf-8")) for p in parts]
    unit = preview.unit or "bytes"
    return [
        {
            "label": f"part {i}",
            "text": text,
            "size": size,
            "unit": unit,
            "limit": preview.limit,
            "over": preview.limit is not None and size > preview.limit,
        }
        for i, (text, size) in enumerate(zip(parts, sizes, strict=False), 1)
    ]


async def render_parts(
    config: Config,
    *,
    integration: str | None,
    channel: str | None,
    locale: str | None,
    payload: dict[str, Any] | None,
    at: float,
    digest: DigestKind | None = None,
    groups: int = 5,
) -> dict[str, Any]:
    """The parts of one integration's message for ``payload`` (the sample when None);
    with ``digest``, of the digest ``groups`` groups like it would be merged into."""
    receiver, integration_id, channel_cfg = _integration(config, integration, channel)
    if locale is not None:
        if locale not in LOCALES:
            raise BadRequest(f"locale: expected one of {', '.join(LOCALES)}, got {locale!r}")
        channel_cfg = channel_cfg.model_copy(update={"locale": locale})
    chosen = normalize_locale(channel_cfg.locale or config.global_.locale)
    notification = _notification(payload, receiver, at)
    renderer = RecordingRenderer(config, FakeClock(at))
    problems = renderer.check()  # every user template, as `relay serve` checks at start
    message = Message(job_id=PREVIEW_JOB_ID, notification=notification, integration=integration_id)
    async with _notifier_context(config, renderer) as ctx:
        notifier = channel_cfg.build(ctx)
        try:
            preview = message_preview(notifier, message, channel_cfg.kind, at, digest, groups)
        finally:
            await notifier.aclose()
    failures = list(
        dict.fromkeys(
            [*problems, *(f for f in renderer.failures if not any(p.startswith(f) for p in problems))]
        )
    )
    return {
        "integration": integration_id,
        "channel": channel_cfg.kind,
        "locale": chosen,
        "digest": digest,
        "parts": parts_of(preview),
        "note": preview.note,
        "problems": failures,
        "ok": not failures,
    }


async def send_one(
    config: Config, integration: str, payload: dict[str, Any] | None, at: float
) -> dict[str, Any]:
    """Send once through ``integration`` with the real config (relay test-alert's way:
    no grouping, no retries, a scratch store); the outcome in one line."""
    receiver, integration_id, channel_cfg = _integration(config, integration, None)
    notification = _notification(payload, receiver, at)
    renderer = RecordingRenderer(config)
    hard_timeout = config.delivery.timeout * 3 + 5  # the dispatcher's outer bound
    secrets = config.secrets()
    sent: list[str] = []
    ok = False
    async with _notifier_context(config, renderer) as ctx:
        notifier = channel_cfg.build(ctx)
        message = Message(
            job_id=new_job_id(), notification=notification, integration=integration_id, once=True
        )
        try:
            delivery = await asyncio.wait_for(notifier.send(message), timeout=hard_timeout)
            ok, sent = True, delivery.sent
            result = "ok" + (f" ({delivery.detail})" if delivery.detail else "")
        except DeliveryError as exc:
            kind = "retryable" if exc.retryable else "permanent"
            result = f"failed ({kind}, {exc.reason}): {exc.message}"
            sent = list(getattr(exc, "sent", None) or [])
        except TimeoutError:
            result = f"failed (retryable, timeout): no answer within {hard_timeout:g}s"
        finally:
            await notifier.aclose()
    return {
        "integration": integration_id,
        "ok": ok,
        "result": redact(result, secrets),
        "sent": [redact(part, secrets) for part in sent],
        "template_problems": [redact(f, secrets) for f in renderer.failures],
    }
