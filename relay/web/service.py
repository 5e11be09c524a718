"""create_app(config): the HTTP API; the lifespan owns the store, http client and workers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay import __version__
from relay.config import Config, load_config
from relay.core.clock import Clock, SystemClock
from relay.core.errors import ConfigError, StoreUnavailable
from relay.obs.metrics import Metrics
from relay.pipeline.dispatch import Dispatcher
from relay.pipeline.grouping import TimeGate, flush_update
from relay.pipeline.hold import ReleasedHolds, digest_update
from relay.pipeline.runtime import Runtime
from relay.store import open_store
from relay.store.base import GroupUpdate, Store, TransitionResult
from relay.web.auth import actor, authorized, challenge
from relay.web.console.api import console_routes
from relay.web.console.pages_routes import page_routes
from relay.web.console.security import SecurityHeaders
from relay.web.ingest import error, handle_webhook
from relay.web.kept import FLUSH_EVERY as KEPT_FLUSH_EVERY
from relay.web.kept import WebhookKeeper
from relay.web.slack_interactions import INTERACTIONS_PATH, SlackInteractions

# A group's flush, given (as released=) the batch's collector of released hold entries.
Transitioned = Callable[..., GroupUpdate]

logger = logging.getLogger("relay.app")

FLUSH_INTERVAL = 0.5
DUE_GROUPS_PER_FLUSH = 1000
FLUSH_BATCH = 100
PRUNE_INTERVAL = 600.0
WRITE_PROBE_KEY = "relay:ready-probe"
WEBHOOK_PATH = "/api/v1/alerts/webhook"
SHUTDOWN_ACTIONS_WAIT = 15.0  # seconds Slack actions in progress get at shutdown


class RelayState:
    """The running service: the current runtime (swapped on reload) and what it shares."""

    def __init__(self, config: Config, *, store: Store, clock: Clock, metrics: Metrics,
                 config_path: str | None) -> None:
        self.config_path = config_path
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.started_at = time.time()
        self.loaded_at = time.time()
        self.http = httpx.AsyncClient(
            timeout=config.delivery.timeout,
            headers={"User-Agent": f"relay/{__version__}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        self.runtime = Runtime.build(config, http=self.http, store=store, metrics=metrics)
        self.owner = f"{socket.gethostname()}-{os.getpid()}"
        self.dispatcher = Dispatcher(
            store=store, clock=clock, metrics=metrics, runtime=lambda: self.runtime, owner=self.owner,
        )
        # The last webhooks for the console, written to the store in batches.
        self.kept = WebhookKeeper()
        self.last_reload_error = ""
        # Why the store last failed to commit; None while commits succeed. A SELECT can
        # succeed while every commit fails (disk full), so readiness follows this.
        self.store_problem: str | None = None
        self._reload_lock = asyncio.Lock()
        metrics.config_last_reload_successful.set(1)
        metrics.config_last_reload_success_timestamp.set(self.loaded_at)

    async def reload(self, config: Config | None = None) -> str | None:
        """Load the config again and swap it in; on error keep the old one. None means ok."""
        async with self._reload_lock:
            try:
                if config is None:
                    if self.config_path is None:
                        raise ConfigError(["no config file to reload from"])
                    config = load_config(self.config_path)
                if config.storage.url != self.runtime.config.storage.url:
                    raise ConfigError(["storage.url: cannot change on reload; restart relay"])
                problems = Runtime.check_templates(config)
                if problems:
                    raise ConfigError(problems)
                new = Runtime.build(config, http=self.http, store=self.store, metrics=self.metrics)
            except ConfigError as exc:
                self.metrics.config_last_reload_successful.set(0)
                self.last_reload_error = str(exc)
                logger.error("config reload failed; keeping the running config",
                             extra={"problems": exc.problems})
                return str(exc)
            old, self.runtime = self.runtime, new
            self.loaded_at = time.time()
            self.last_reload_error = ""
            self.metrics.config_last_reload_successful.set(1)
            self.metrics.config_last_reload_success_timestamp.set(self.loaded_at)
            logger.info("config reloaded", extra={"digest": new.config.digest})
            for warning in new.config.warnings:
                logger.warning("config warning: %s", warning)
            await old.aclose()
            return None

    def config_summary(self) -> dict[str, Any]:
        """The running config as /api/v1/status and the console show it."""
        config = self.runtime.config
        return {"source": config.source, "hash": config.digest, "loaded_at": self.loaded_at,
                "last_reload_error": self.last_reload_error, "warnings": config.warnings}

    async def apply(self, updates: list[GroupUpdate]) -> list[TransitionResult]:
        """store.apply, remembering whether the store could commit (for readiness)."""
        if not updates:
            return []
        try:
            results = await self.store.apply(updates)
        except StoreUnavailable as exc:
            self._commit_failed(str(exc))
            raise
        self._commit_succeeded()
        return results

    def _commit_failed(self, problem: str) -> None:
        if self.store_problem is None:
            logger.warning("storage cannot commit; not ready until a commit succeeds: %s", problem)
        self.store_problem = problem

    def _commit_succeeded(self) -> None:
        if self.store_problem is not None:
            logger.info("storage commits again; ready")
        self.store_problem = None

    def count_refused(self, path: str) -> None:
        """A request answered 503 past server.max_connections, before reaching the app."""
        if path.startswith(WEBHOOK_PATH):
            self.metrics.webhooks_received.labels("503").inc()

    async def store_health(self) -> str | None:
        """None when the store can take webhooks, else why not.

        While commits succeed this is a ping; after a failed commit it is a small write
        (a ref with a short TTL), so readiness recovers with the store even when no
        webhook arrives to find out.
        """
        if self.store_problem is not None:
            try:
                await self.store.set_ref(WRITE_PROBE_KEY, {"at": self.clock.now()}, 60.0)
            except StoreUnavailable as exc:
                self._commit_failed(str(exc))
                return f"storage cannot commit: {exc}"
            self._commit_succeeded()
            return None
        try:
            await self.store.ping()
        except StoreUnavailable as exc:
            return f"storage unavailable: {exc}"
        return None

    async def flush_due(self) -> int:
        """Flush groups whose timer has fired (relay-side groups, and groups whose hold
        window ended); returns notifications created."""
        runtime = self.runtime
        now = self.clock.now()
        keys = await self.store.due_groups(now, limit=DUE_GROUPS_PER_FLUSH)
        if not keys:
            return 0
        releases: list[Transitioned] = []
        flushes: list[Transitioned] = []
        gates: dict[str, TimeGate] = {}
        for key in keys:
            group = await self.store.get_group(key)
            if group is None:
                continue
            route = runtime.route_for(group.route_id)
            gate = gates.setdefault(route.id, runtime.gate(route, now))
            integrations = runtime.integrations.get(group.receiver, [])
            # Every group a hold window's end releases goes in one batch, so that each
            # integration gets one digest for the window; the others in batches as small
            # as before, so that replicas on Redis seldom retry each other's.
            bucket = releases if group.held and gate.gate == "send" else flushes
            bucket.append(functools.partial(flush_update, key, route, integrations, now, gate))
        batches = [flushes[i:i + FLUSH_BATCH] for i in range(0, len(flushes), FLUSH_BATCH)]
        results = []
        for batch in [releases, *batches] if releases else batches:
            # Each batch ends with the digest of what its transitions released (nothing,
            # unless a hold window ended), committed with them.
            released = ReleasedHolds()
            updates = [make(released=released) for make in batch]
            updates.append(digest_update(f"hold-digest|{now}", released,
                                         runtime.digest_builder, now))
            results += await self.apply(updates)
        jobs = sum(len(r.jobs) for r in results)
        for result in results:
            for skipped in result.suppressed:
                self.metrics.suppressed.labels(skipped.receiver, skipped.reason).inc()
        if jobs:
            self.dispatcher.wake()
        return jobs

    async def _every(self, interval: float, work: Callable[[], Awaitable[Any]], name: str,
                     *, at_start: bool = False) -> None:
        if not at_start:
            await asyncio.sleep(interval)
        while True:
            try:
                await work()
            except StoreUnavailable as exc:
                logger.warning("%s: storage unavailable: %s", name, exc)
            except Exception:
                logger.exception("%s failed", name)
            await asyncio.sleep(interval)

    async def flush_kept(self) -> None:
        ui = self.runtime.config.server.ui
        await self.kept.flush(self.store, ui.keep_webhooks, ui.keep_webhook_bytes)

    async def prune(self) -> int:
        storage = self.runtime.config.storage
        return await self.store.prune(self.clock.now(), storage.retention, storage.group_retention)

    @contextlib.asynccontextmanager
    async def running(self, background: bool = True) -> AsyncIterator[None]:
        await self.store.open()
        logger.info("relay started", extra={"storage": self.store.describe(),
                                            "config_hash": self.runtime.config.digest})
        tasks: list[asyncio.Task[None]] = []
        if background:
            self.dispatcher.start()
            tasks = [
                asyncio.create_task(self._every(FLUSH_INTERVAL, self.flush_due, "group flush")),
                asyncio.create_task(self._every(KEPT_FLUSH_EVERY, self.flush_kept, "keep webhooks")),
                # At start too: a relay restarted more often than PRUNE_INTERVAL still prunes.
                asyncio.create_task(self._every(PRUNE_INTERVAL, self.prune, "prune", at_start=True)),
            ]
            # No signal handlers on some platforms (NotImplementedError) or outside the
            # main thread (RuntimeError): reload stays available through POST /-/reload.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(
                    signal.SIGHUP, lambda: asyncio.ensure_future(self.reload())
                )
        try:
            yield
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if background:
                await self.dispatcher.stop()
            with contextlib.suppress(Exception):  # samples for the playground: never block a stop
                await self.flush_kept()
            await self.runtime.aclose()
            await self.http.aclose()
            await self.store.close()
            logger.info("relay stopped; unfinished jobs stay queued in the store")


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
            return error(401, "missing or wrong credentials",
                         headers={"WWW-Authenticate": challenge(auth)})
        request.state.actor = actor(auth, header)
        return await handler(request, state)

    return check


async def webhook(request: Request, state: RelayState) -> Response:
    response = await handle_webhook(request, state)
    return response


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
        if path != WEBHOOK_PATH and not path.startswith(WEBHOOK_PATH + "/"):
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
    return JSONResponse({
        "version": __version__,
        "uptime_seconds": round(time.time() - state.started_at, 3),
        "config": state.config_summary(),
        "storage": {"backend": state.store.describe(), "reachable": storage_ok},
        "queue": counts,
        "receivers": [
            {"name": r.name, "integrations": [i for i, _ in r.integrations()]}
            for r in runtime.config.receivers
        ],
    })


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
        return error(500, "config reload failed; the previous config is still in use",
                     problem.splitlines())
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


def create_app(
    config: Config,
    *,
    config_path: str | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    background: bool = True,
) -> Starlette:
    """The relay ASGI app. ``background=False`` runs no workers (tests drive them)."""
    state = RelayState(
        config,
        store=store or open_store(config.storage.url),
        clock=clock or SystemClock(),
        metrics=metrics or Metrics(),
        config_path=config_path,
    )

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(request, state)

        return endpoint

    webhook_handler = answered(protected(webhook))
    # Signed by Slack with the app's signing secret, so not behind server.auth.
    slack_interactions = SlackInteractions()
    routes: list[BaseRoute] = [
        Route(INTERACTIONS_PATH, bind(answered(slack_interactions.handle)), methods=["POST"]),
        Route(WEBHOOK_PATH, bind(webhook_handler), methods=["POST"]),
        Route(WEBHOOK_PATH + "/{receiver}", bind(webhook_handler), methods=["POST"]),
        Route("/api/v1/status", bind(protected(status)), methods=["GET"]),
        Route("/-/healthy", bind(healthy), methods=["GET", "HEAD"]),
        Route("/-/ready", bind(ready), methods=["GET", "HEAD"]),
        Route("/-/reload", bind(protected(reload)), methods=["POST"]),
        Route("/metrics", bind(metrics_text), methods=["GET"]),
    ]
    routes += console_routes(bind, protected, answered)  # the console's JSON API
    routes += page_routes()  # the console's pages at /ui/; GET / sends browsers there

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, exc.detail, headers=dict(exc.headers or {}))

    async def internal_error(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, "internal error; see relay's log")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with state.running(background):
            yield
            # A click being acted on finishes (its Alertmanager call is bounded), so the
            # user hears back what happened before the store closes.
            await slack_interactions.idle(at_most=SHUTDOWN_ACTIONS_WAIT)

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        middleware=[Middleware(SecurityHeaders), Middleware(CountWebhooks, metrics=state.metrics)],
    )
    app.state.relay = state
    app.state.slack_interactions = slack_interactions
    return app
