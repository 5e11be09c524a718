"""POST /api/v1/alerts/webhook: authenticate, bound, parse, validate, route, commit.

The answer is 200 only after the store has committed the group updates and the jobs
they created; anything temporary on relay's side is a 503 so Alertmanager retries.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import from_json
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from relay.config.checks import format_loc
from relay.core.alerts import Alert, webhook_in_chunks
from relay.core.durations import format_duration
from relay.core.errors import StoreUnavailable
from relay.core.grafana import grafana_webhook, looks_like_alertmanager, looks_like_grafana
from relay.core.groups import GroupUpdate
from relay.core.jobs import new_job_id
from relay.core.text import ascii_int
from relay.pipeline.grouping import plan_webhook
from relay.pipeline.heartbeats import record_beats, take_beats
from relay.pipeline.offload import off_loop
from relay.pipeline.routing import Route
from relay.store.base import KeptWebhook
from relay.web.state import GRAFANA_PATH, WEBHOOK_PATH

if TYPE_CHECKING:
    from relay.web.state import RelayState

logger = logging.getLogger("relay.ingest")

RETRY_AFTER_SECONDS = "5"
# nginx's "client closed request": counted in relay_webhooks_received_total, never sent.
CLIENT_CLOSED = 499
#: A webhook bigger than this is read and routed in a worker thread (see handle_webhook);
#: a small one costs less than the hop to a thread.
READ_OFF_LOOP_BYTES = 256 * 1024


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


def error(
    status: int, message: str, details: list[str] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "details": details or []}, status, headers=headers)


async def read_limited(request: Request, limit: int, seconds: float) -> bytes:
    """The body, refusing as soon as it passes ``limit`` bytes (never buffering more)
    or when it has not all arrived within ``seconds`` (BodyTimeout)."""
    declared = ascii_int(request.headers.get("content-length"), most_digits=30)
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout from None
    return b"".join(chunks)


def unavailable(exc: StoreUnavailable) -> JSONResponse:
    """503 with Retry-After: Alertmanager keeps the webhook and sends it again."""
    logger.error("storage unavailable, answering 503: %s", exc)
    return error(
        503, "storage unavailable, retry later", [str(exc)], headers={"Retry-After": RETRY_AFTER_SECONDS}
    )


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def validation_details(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False)[:50]:
        where = format_loc(list(err["loc"])) or "body"
        out.append(f"{where}: {err['msg']}")
    return out


def bucket_alerts(
    tree: Route, alerts: list[Alert], receiver: str | None
) -> dict[tuple[str, str], tuple[Route, list[Alert]]]:
    """Alerts by (route id, receiver) reached; ``receiver`` skips routing (root timers)."""
    buckets: dict[tuple[str, str], tuple[Route, list[Alert]]] = {}
    for alert in alerts:
        routes = [tree] if receiver is not None else tree.match(alert.labels)
        for route in routes:
            target = receiver if receiver is not None else route.receiver
            buckets.setdefault((route.id, target), (route, []))[1].append(alert)
    return buckets


async def handle_webhook(request: Request, state: RelayState) -> Response:
    """An Alertmanager webhook (version 4)."""
    return await ingest(request, state, grafana=False)


async def handle_grafana_webhook(request: Request, state: RelayState) -> Response:
    """A Grafana Alerting webhook (relay.core.grafana), routed like Alertmanager's."""
    return await ingest(request, state, grafana=True)


def _refused(exc: ValidationError, body: bytes, grafana: bool) -> JSONResponse:
    """400 for a body that is not JSON, 422 naming each field's path otherwise; a body
    posted to the other kind's endpoint is told where it goes."""
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return error(400, "body is not valid JSON", [e["msg"] for e in exc.errors()][:1])
    try:
        data = from_json(body)
    except ValueError:
        data = None
    if grafana and looks_like_alertmanager(data):
        return error(
            422,
            f"this is an Alertmanager webhook (version 4): post it to {WEBHOOK_PATH}",
            validation_details(exc),
        )
    if not grafana and looks_like_grafana(data):
        return error(
            422,
            f"this is a Grafana Alerting webhook (version 1, orgId): post it to {GRAFANA_PATH}",
            validation_details(exc),
        )
    what = "a Grafana Alerting webhook (version 1)" if grafana else "an Alertmanager v4 webhook"
    return error(422, f"not {what}", validation_details(exc))


async def ingest(request: Request, state: RelayState, *, grafana: bool) -> Response:
    runtime = state.runtime
    server = runtime.config.server
    receiver = request.path_params.get("receiver")
    if receiver is not None and runtime.config.receiver(receiver) is None:
        return error(404, f"unknown receiver {receiver!r}")
    if not is_json_type(request.headers.get("content-type", "")):
        return error(415, "expected Content-Type: application/json")
    try:
        body = await read_limited(request, server.max_body_bytes, server.read_timeout)
    except BodyTooLarge:
        return error(413, f"body larger than server.max_body_bytes ({server.max_body_bytes} bytes)")
    except BodyTimeout:
        # The rest of the body may still come: close rather than read it as the next request.
        return error(
            408,
            f"body not received within server.read_timeout ({format_duration(server.read_timeout)})",
            headers={"Connection": "close"},
        )
    except ClientDisconnect:
        # The client's doing, and nobody is left to answer: no traceback, no error.
        logger.debug(
            "client disconnected before sending the whole body",
            extra={"client": request.client.host if request.client else ""},
        )
        return Response(status_code=CLIENT_CLOSED)
    # A big webhook (10,000 alerts take ~0.3 s to read and route) is read and planned in a
    # worker thread, a chunk of alerts at a time, so /-/healthy and every other request
    # and delivery keep going meanwhile.
    big = len(body) > READ_OFF_LOOP_BYTES
    parsed = state.parsed_grafana if grafana else state.parsed_webhooks
    try:
        if big:
            payload = await off_loop(grafana_webhook if grafana else webhook_in_chunks, body)
        else:
            payload = parsed.parse(body)
    except ValidationError as exc:
        return _refused(exc, body, grafana)

    now = state.clock.now()
    # Heartbeats' beats (relay.pipeline.heartbeats): recorded before anything is
    # answered, and taken out of what is routed unless the heartbeat forwards them.
    beaten, alerts = take_beats(runtime.heartbeats, payload.alerts)
    if beaten:
        try:
            await record_beats(state.store, beaten, now)
        except StoreUnavailable as exc:
            return unavailable(exc)
        for name in beaten:
            state.metrics.heartbeat_last_seen.labels(name).set(now)

    resolve = runtime.on_call_at(now, state.overrides)

    def plan() -> list[GroupUpdate]:
        buckets = bucket_alerts(runtime.tree, alerts, receiver)
        return plan_webhook(
            buckets,
            runtime.integrations,
            payload.groupKey,
            payload.groupLabels,
            payload.externalURL,
            payload.truncatedAlerts,
            now,
            lambda route: runtime.gate(route, now),
            lambda route: runtime.escalation_for(route, resolve),
        )

    updates = await off_loop(plan) if big else plan()
    try:
        results = await state.apply(updates)
    except StoreUnavailable as exc:
        return unavailable(exc)

    keep_webhook(state, body, receiver, now)
    jobs = 0
    suppressed = []
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    metrics = state.metrics
    for result in results:
        jobs += len(result.jobs)
        for joined in result.grouped:
            grouped[(joined.receiver, joined.group_key)] = joined.to_api()
        state.count_escalated(result.escalated)
        for skipped in result.suppressed:
            metrics.suppressed.labels(skipped.receiver, skipped.reason).inc()
            suppressed.append(skipped.to_api())
    firing = sum(1 for a in payload.alerts if a.status == "firing")
    count_alerts(state, len(payload.alerts), firing)
    if jobs:
        state.dispatcher.wake()
    # "suppressed" says why nothing was sent (an HA copy, a re-send inside repeat_interval,
    # resolved alerts with send_resolved off); a group_by route decides later, at its flush.
    answer = {
        "status": "accepted",
        "alerts": len(payload.alerts),
        "notifications": jobs,
        "suppressed": suppressed,
    }
    if grouped:
        # group_by routes: these groups are notified at their flush, not now.
        answer["grouped"] = list(grouped.values())
    if suppressed or grouped:
        answer["timezone"] = runtime.config.global_.timezone  # for the times above, shown
    if beaten:
        answer["heartbeats"] = beaten  # the heartbeats this webhook beat
    return JSONResponse(answer)


def keep_webhook(state: RelayState, body: bytes, receiver: str | None, now: float) -> None:
    """Keep the webhook for the console's playground (server.ui.keep_webhooks), in memory
    until the next batch write (relay.web.kept): no store write of its own."""
    ui = state.runtime.config.server.ui
    if not ui.keep_webhooks or len(body) > ui.keep_webhook_bytes:
        return
    kept = KeptWebhook(
        id=new_job_id(), received_at=now, receiver=receiver or "", body=body.decode("utf-8", "replace")
    )
    state.kept.add(kept, ui.keep_webhooks, ui.keep_webhook_bytes)


def count_alerts(state: RelayState, alerts: int, firing: int) -> None:
    if firing:
        state.metrics.alerts_received.labels("firing").inc(firing)
    if alerts - firing:
        state.metrics.alerts_received.labels("resolved").inc(alerts - firing)
