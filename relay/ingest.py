"""POST /api/v1/alerts/webhook: authenticate, bound, parse, validate, route, commit.

The answer is 200 only after the store has committed the group updates and the jobs
they created; anything temporary on relay's side is a 503 so Alertmanager retries.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay.config import format_loc
from relay.errors import StoreUnavailable
from relay.grouping import plan_webhook
from relay.models import Alert, WebhookPayload
from relay.quiet import QuietWebhook, Seen, quiet_until
from relay.routing import Route
from relay.store.base import GroupUpdate, TransitionResult

if TYPE_CHECKING:
    from relay.app import RelayState
    from relay.runtime import Runtime

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"


class BodyTooLarge(Exception):
    pass


def error(status: int, message: str, details: list[str] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "details": details or []}, status, headers=headers)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing as soon as it passes ``limit`` bytes (never buffering more)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


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
    runtime = state.runtime
    server = runtime.config.server
    receiver = request.path_params.get("receiver")
    if receiver is not None and runtime.config.receiver(receiver) is None:
        return error(404, f"unknown receiver {receiver!r}")
    if not is_json_type(request.headers.get("content-type", "")):
        return error(415, "expected Content-Type: application/json")
    try:
        body = await read_limited(request, server.max_body_bytes)
    except BodyTooLarge:
        return error(413, f"body larger than server.max_body_bytes ({server.max_body_bytes} bytes)")
    quiet = state.quiet
    digest = b""
    generation = 0
    if quiet is not None:
        digest, generation = quiet.digest(body, receiver), quiet.generation
        known = quiet.lookup(digest, state.clock.now())
        if known is not None:
            return answer_quiet(state, known)
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return error(400, "body is not valid JSON", [e["msg"] for e in exc.errors()][:1])
        return error(422, "not an Alertmanager v4 webhook", validation_details(exc))

    now = state.clock.now()
    buckets = bucket_alerts(runtime.tree, payload.alerts, receiver)
    updates = plan_webhook(
        buckets, runtime.integrations, payload.groupKey, payload.groupLabels,
        payload.externalURL, payload.truncatedAlerts, now,
    )
    tracked = [quiet.track(u) for u in updates] if quiet is not None else []
    if tracked:
        updates = [update for update, _ in tracked]
    try:
        results = await state.store.apply(updates) if updates else []
    except StoreUnavailable as exc:
        logger.error("storage unavailable, answering 503: %s", exc)
        return error(503, "storage unavailable, retry later", [str(exc)],
                     headers={"Retry-After": RETRY_AFTER_SECONDS})

    jobs = 0
    metrics = state.metrics
    for result in results:
        jobs += len(result.jobs)
        for rcv, reason in result.suppressed:
            metrics.suppressed.labels(rcv, reason).inc()
    firing = sum(1 for a in payload.alerts if a.status == "firing")
    count_alerts(state, len(payload.alerts), firing)
    if jobs:
        state.dispatcher.wake()
    if quiet is not None and tracked:
        entry = quiet_entry(runtime, results, tracked, generation, len(payload.alerts), firing)
        if entry is not None:
            quiet.remember(digest, entry)
    return JSONResponse({"status": "accepted", "alerts": len(payload.alerts), "notifications": jobs})


def count_alerts(state: RelayState, alerts: int, firing: int) -> None:
    if firing:
        state.metrics.alerts_received.labels("firing").inc(firing)
    if alerts - firing:
        state.metrics.alerts_received.labels("resolved").inc(alerts - firing)


def answer_quiet(state: RelayState, known: QuietWebhook) -> Response:
    """The answer applying the webhook again would give, without applying it again."""
    for rcv in known.suppressed:
        state.metrics.suppressed.labels(rcv, "duplicate").inc()
    count_alerts(state, known.alerts, known.firing)
    return JSONResponse({"status": "accepted", "alerts": known.alerts, "notifications": 0})


def quiet_entry(
    runtime: Runtime,
    results: list[TransitionResult],
    tracked: list[tuple[GroupUpdate, Seen]],
    generation: int,
    alerts: int,
    firing: int,
) -> QuietWebhook | None:
    """What re-applying this webhook would do now that it is committed, if it is
    provably nothing (only pass-through groups, no repeat due); else None."""
    until = math.inf
    suppressed: list[str] = []
    for result in results:
        group = result.state
        route = runtime.routes.get(group.route_id) if group is not None else None
        if group is None or route is None or not route.passthrough:
            return None
        until = min(until, quiet_until(group, route.repeat_interval))
        suppressed += [group.receiver] * len(runtime.integrations.get(group.receiver, []))
    return QuietWebhook(
        versions=tuple((update.key, seen.version) for update, seen in tracked),
        quiet_until=until,
        generation=generation,
        alerts=alerts,
        firing=firing,
        suppressed=tuple(suppressed),
    )
