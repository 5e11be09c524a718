"""`relay render` and `relay test-alert --receiver`: a channel's message without a running relay.

``render_preview`` builds the notifier of one integration exactly as the runtime does and
prints what its ``send`` would transmit (JSON bodies, or the mail's headers and parts),
without sending. ``send_direct`` sends one notification through every integration of a
receiver with the real config and prints one line per integration.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from relay import __version__
from relay.channels import CHANNELS_BY_KIND, TEMPLATE_CATALOGUE
from relay.channels.base import ChannelConfig, MemoryRefs, Message, Notifier, NotifierContext, Preview
from relay.channels.http11 import delivery_client
from relay.config import Config
from relay.config.checks import format_loc
from relay.core.alerts import WebhookPayload
from relay.core.clock import Clock, FakeClock
from relay.core.digests import DigestKind
from relay.core.errors import DeliveryError
from relay.core.jobs import new_job_id
from relay.core.secrets import redact
from relay.core.text import normalize_locale
from relay.pipeline.runtime import notifier_context
from relay.templating.engine import Renderer
from relay.templating.sample import notification_from_payload, sample_digest, sample_notification
from relay.templating.sandbox import describe

#: ``click.echo``: ``echo(text)`` to stdout, ``echo(text, err=True)`` to stderr.
Echo = Callable[..., None]

#: The job id shown in a preview (Idempotency-Key, Message-ID); a real job gets a fresh one.
PREVIEW_JOB_ID = "0" * 32


class PayloadError(Exception):
    """A payload file that is not an Alertmanager v4 webhook; one 'file: problem' per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def validate_payload(data: Any, source: str) -> WebhookPayload:
    """The webhook in ``data``, or PayloadError naming ``source`` and each field path."""
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        problems = [f"{source}: not an Alertmanager v4 webhook"]
        for err in exc.errors(include_url=False)[:50]:
            problems.append(f"{source}: {format_loc(list(err['loc'])) or 'body'}: {err['msg']}")
        raise PayloadError(problems) from None


def load_payload(path: str) -> dict[str, Any]:
    """Read, parse and validate a webhook JSON file; PayloadError says what is wrong where."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PayloadError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise PayloadError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError([f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]) from None
    validate_payload(data, path)
    assert isinstance(data, dict)  # validated as a WebhookPayload just above
    return data


class RecordingRenderer(Renderer):
    """A renderer that also keeps every template failure ('file:line: ...') it fell back
    from, so a preview can report them instead of only logging them."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        super().__init__(config, TEMPLATE_CATALOGUE, clock=clock)
        self.failures: list[str] = []

    def _failed(self, name: str, exc: BaseException) -> None:
        self.failures.append(describe(exc))


@asynccontextmanager
async def _notifier_context(config: Config, renderer: Renderer) -> AsyncIterator[NotifierContext]:
    """What the runtime hands notifiers, with refs kept in memory: a one-off send keeps
    nothing (WeCom part progress, Slack message refs) that a running relay would read."""
    http = delivery_client(timeout=config.delivery.timeout, user_agent=f"relay/{__version__}")
    try:
        yield notifier_context(config, http=http, renderer=renderer, refs=MemoryRefs())
    finally:
        await http.aclose()


def _pick_integration(
    config: Config, channel: str, receiver: str | None, echo: Echo
) -> tuple[str | None, str, ChannelConfig] | None:
    """(receiver name, integration id, its config); the channel's defaults without a
    receiver; None (the reason printed) when there is no such integration."""
    if receiver is None:
        spec = CHANNELS_BY_KIND[channel]
        default = spec.config.model_validate(spec.preview_settings)
        return None, f"preview/{channel}/0", default
    for rcv in config.receivers:  # an integration id ('team/wecom/1') picks that one
        for iid, cfg in rcv.integrations():
            if iid == receiver and cfg.kind == channel:
                return rcv.name, iid, cfg
    found = config.receiver(receiver)
    if found is None:
        known = ", ".join(r.name for r in config.receivers)
        echo(f"unknown receiver {receiver!r} (known: {known})", err=True)
        return None
    matches = [(iid, cfg) for iid, cfg in found.integrations() if cfg.kind == channel]
    if not matches:
        kinds = sorted({cfg.kind for _, cfg in found.integrations()})
        echo(
            f"receiver {receiver!r} has no {channel} integration (it has: {', '.join(kinds) or 'none'})",
            err=True,
        )
        return None
    if len(matches) > 1:
        echo(
            f"receiver {receiver!r} has {len(matches)} {channel} integrations; showing "
            f"{matches[0][0]} (pass --receiver {receiver}/{channel}/N for another)",
            err=True,
        )
    return found.name, *matches[0]


def message_preview(
    notifier: Notifier,
    message: Message,
    kind: str,
    now: float,
    digest: DigestKind | None = None,
    groups: int = 5,
) -> Preview:
    """What ``notifier`` would send for ``message``; with ``digest``, what it would send
    for the digest ``groups`` groups like ``message``'s would be merged into at ``now``."""
    if digest is None:
        return notifier.preview(message)
    merged = sample_digest(message.notification, digest, groups, message.integration, now)
    return notifier.digest_preview(merged, kind)


async def render_preview(
    config: Config,
    channel: str,
    receiver: str | None,
    payload: dict[str, Any] | None,
    echo: Echo,
    locale: str | None = None,
    at: float | None = None,
    digest: DigestKind | None = None,
    groups: int = 5,
) -> int:
    """Print what ``channel`` would send for ``payload`` (default: the built-in sample).

    ``at`` (unix seconds) is the moment to render as of: the sample's alerts start
    relative to it and "firing for ..." counts up to it. Default: now.

    ``digest`` ("storm" or "hold"): print instead the digest ``groups`` groups like the
    payload's would be merged into (``<kind>.digest``), every part with its size.

    Returns the exit code: 0, or 1 when a template failed (each failure printed with file
    and line) or the receiver has no such integration.
    """
    if channel not in CHANNELS_BY_KIND:
        echo(f"unknown channel {channel!r} (known: {', '.join(CHANNELS_BY_KIND)})", err=True)
        return 2
    picked = _pick_integration(config, channel, receiver, echo)
    if picked is None:
        return 1
    name, integration, channel_cfg = picked
    if locale is not None:
        channel_cfg = channel_cfg.model_copy(update={"locale": normalize_locale(locale)})
    if payload is None:
        when = datetime.fromtimestamp(at, UTC) if at is not None else None
        notification = sample_notification(name or "default", now=when)
    else:
        try:
            webhook = validate_payload(payload, "payload")
        except PayloadError as exc:
            for problem in exc.problems:
                echo(problem, err=True)
            return 1
        name = name or webhook.receiver or "default"
        notification = notification_from_payload(webhook, name, _reason(webhook.status))
    renderer = RecordingRenderer(config, FakeClock(at) if at is not None else None)
    # Any broken user template, not only this channel's: `relay serve` refuses to start on one.
    problems = renderer.check()
    message = Message(job_id=PREVIEW_JOB_ID, notification=notification, integration=integration)
    async with _notifier_context(config, renderer) as ctx:
        notifier = channel_cfg.build(ctx)
        try:
            preview = message_preview(
                notifier, message, channel, at if at is not None else time.time(), digest, groups
            )
        finally:
            await notifier.aclose()
    echo(preview.note, err=True)
    echo(preview.text)
    # check() already reports most failures, with a note that the sample triggered them.
    failures = list(
        dict.fromkeys(
            [*problems, *(f for f in renderer.failures if not any(p.startswith(f) for p in problems))]
        )
    )
    if failures:
        echo(
            f"{len(failures)} template problem{'s' if len(failures) != 1 else ''} "
            "(at delivery time relay falls back to the built-in template, as shown above "
            "where it was used):",
            err=True,
        )
        for failure in failures:
            echo(f"  {failure}", err=True)
        return 1
    return 0


def _reason(status: str) -> str:
    return "resolved" if status == "resolved" else "new_alerts"


async def send_direct(config: Config, receiver: str, payload: dict[str, Any], echo: Echo) -> int:
    """Send ``payload`` through every integration of ``receiver`` at once (no grouping, no
    retries); print '<integration>: ok' or the downstream's error for each. Returns 1 if
    any failed, 2 for an unknown receiver or an invalid payload."""
    found = config.receiver(receiver)
    if found is None:
        known = ", ".join(r.name for r in config.receivers)
        echo(f"unknown receiver {receiver!r} (known: {known})", err=True)
        return 2
    try:
        webhook = validate_payload(payload, "payload")
    except PayloadError as exc:
        for problem in exc.problems:
            echo(problem, err=True)
        return 2
    integrations = list(found.integrations())
    if not integrations:
        echo(f"receiver {receiver!r} has no integrations: nothing to send", err=True)
        return 1
    notification = notification_from_payload(webhook, receiver, _reason(webhook.status))
    secrets = config.secrets()
    renderer = RecordingRenderer(config)
    # The dispatcher's outer bound for a notifier that ignores its own timeouts.
    hard_timeout = config.delivery.timeout * 3 + 5
    failed = 0
    async with _notifier_context(config, renderer) as ctx:
        for integration, channel_cfg in integrations:
            if notification.status == "resolved" and not channel_cfg.send_resolved:
                echo(f"{integration}: skipped (send_resolved: false)")
                continue
            seen = len(renderer.failures)
            notifier = channel_cfg.build(ctx)
            message = Message(
                job_id=new_job_id(), notification=notification, integration=integration, once=True
            )
            try:
                delivery = await asyncio.wait_for(notifier.send(message), timeout=hard_timeout)
                line = "ok" + (f" ({delivery.detail})" if delivery.detail else "")
            except DeliveryError as exc:
                failed += 1
                kind = "retryable" if exc.retryable else "permanent"
                line = f"failed ({kind}, {exc.reason}): {exc.message}"
            except TimeoutError:
                failed += 1
                line = f"failed (retryable, timeout): no answer within {hard_timeout:g}s"
            except Exception as exc:  # a notifier bug: report it like the dispatcher would
                failed += 1
                line = f"failed (internal_error): {type(exc).__name__}: {exc}"
            finally:
                await notifier.aclose()
            echo(redact(f"{integration}: {line}", secrets))
            for failure in renderer.failures[seen:]:
                echo(redact(f"  template failed, the built-in was sent: {failure}", secrets), err=True)
    return 1 if failed else 0
