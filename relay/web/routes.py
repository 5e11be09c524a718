"""The service's own routes: the webhook, status, health, readiness, reload and metrics,
with the auth and error wrappers every API handler goes through."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay import __version__
from relay.core.errors import StoreUnavailable
from relay.obs.metrics import Metrics
from relay.web.auth import actor, authorized, challenge
from relay.web.ingest import error, handle_grafana_webhook, handle_webhook
from relay.web.state import GRAFANA_PATH, WEBHOOK_PATH, RelayState

logger = logging.getLogger("relay.app")


# -- handlers ---------------------------------------------------------------------------

Handler = Callable[[Request, RelayState], Awaitable[Response]]


def protected(handler: Handler) -> Handler:
    """Auth for the API: the configured credentials, or a console session that the
    console's middleware checked already (it sets scope["relay.actor"]). The handler finds
    who is acting in request.state.actor."""

    async def check(request: Request, state: RelayState) -> Response:
        auth = state.runtime.config.server.auth
        session = request.scope.get("relay.actor")
        if isinstance(session, str) and session:
            request.state.actor = session
            return await handler(request, state)
        header = request.headers.get("authorization")
        if not authorized(auth, header):
            assert auth is not None
            return error(401, "missing or wrong credentials", headers={"WWW-Authenticate": challenge(auth)})
        request.state.actor = actor(auth, header)
        return await handler(request, state)

    return check


async def webhook(request: Request, state: RelayState) -> Response:
    response = await handle_webhook(request, state)
    return response


async def grafana_webhook(request: Request, state: RelayState) -> Response:
    return await handle_grafana_webhook(request, state)


def answered(handler: Handler) -> Handler:
    """An unexpected error is answered 500 without a traceback and logged once, here
    (Starlette's error middleware would log it and re-raise it for uvicorn to log again)."""

    async def answer(request: Request, state: RelayState) -> Response:
        try:
            return await handler(request, state)
        except Exception:
            logger.exception("unhandled error on %s %s", request.method, request.url.path)
            return error(500, "internal error; see relay's log")

    return answer


class CountWebhooks:
    """Counts every answer to a request under WEBHOOK_PATH in relay_webhooks_received_total,
    by status, whoever gave it: the handler, the router (404, 405, 307 for a trailing
    slash) or an error that escaped (500)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not any(path == p or path.startswith(p + "/") for p in (WEBHOOK_PATH, GRAFANA_PATH)):
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start" and status is None:
                status = int(message["status"])
                self.metrics.webhooks_received.labels(str(status)).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if status is None:
                self.metrics.webhooks_received.labels("500").inc()


async def status(request: Request, state: RelayState) -> Response:
    runtime = state.runtime
    try:
        counts: dict[str, int] | None = await state.store.job_counts()
        storage_ok = True
    except StoreUnavailable:
        counts, storage_ok = None, False
    return JSONResponse(
        {
            "version": __version__,
            "uptime_seconds": round(time.time() - state.started_at, 3),
            "config": state.config_summary(),
            "storage": {"backend": state.store.describe(), "reachable": storage_ok},
            "queue": counts,
            "receivers": [
                {"name": r.name, "integrations": [i for i, _ in r.integrations()]}
                for r in runtime.config.receivers
            ],
        }
    )


async def healthy(request: Request, state: RelayState) -> Response:
    return PlainTextResponse("OK")


async def ready(request: Request, state: RelayState) -> Response:
    problem = await state.store_health()
    if problem is not None:
        return PlainTextResponse(f"not ready: {problem}", 503)
    return PlainTextResponse("OK")


async def reload(request: Request, state: RelayState) -> Response:
    problem = await state.reload()
    if problem is not None:
        return error(500, "config reload failed; the previous config is still in use", problem.splitlines())
    config = state.runtime.config
    return JSONResponse({"status": "reloaded", "hash": config.digest, "warnings": config.warnings})


async def metrics_text(request: Request, state: RelayState) -> Response:
    try:
        counts = await state.store.job_counts()
        for name, value in counts.items():
            state.metrics.queue_jobs.labels(name).set(value)
    except StoreUnavailable:
        pass  # the scrape still answers; relay_queue_jobs keeps its last values
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
