"""create_app(config): the relay ASGI app; its lifespan runs the state's loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay.config import Config
from relay.core.clock import Clock, SystemClock
from relay.obs.metrics import Metrics
from relay.store import open_store
from relay.store.base import Store
from relay.web import action_links, feishu_callback, telegram_updates, twilio_callback, wecom_callback
from relay.web.console.api import console_routes
from relay.web.console.pages_routes import page_routes
from relay.web.console.security import SecurityHeaders
from relay.web.ingest import error
from relay.web.routes import (
    CountWebhooks,
    Handler,
    answered,
    grafana_webhook,
    healthy,
    metrics_text,
    protected,
    ready,
    reload,
    status,
    webhook,
)
from relay.web.slack_interactions import INTERACTIONS_PATH, SlackInteractions
from relay.web.state import GRAFANA_PATH, WEBHOOK_PATH, RelayState

logger = logging.getLogger("relay.app")


SHUTDOWN_ACTIONS_WAIT = 15.0  # seconds Slack actions in progress get at shutdown


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
        store=store or open_store(config.storage),
        clock=clock or SystemClock(),
        metrics=metrics or Metrics(),
        config_path=config_path,
    )

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(request, state)

        return endpoint

    webhook_handler = answered(protected(webhook))
    grafana_handler = answered(protected(grafana_webhook))
    # Signed by Slack with the app's signing secret, so not behind server.auth.
    slack_interactions = SlackInteractions()
    routes: list[BaseRoute] = [
        Route(INTERACTIONS_PATH, bind(answered(slack_interactions.handle)), methods=["POST"]),
        # Telegram's button presses: verified by the bot's webhook secret (relay.web.telegram_updates).
        Route(
            telegram_updates.UPDATES_PATH, bind(answered(telegram_updates.handle_webhook)), methods=["POST"]
        ),
        # The WeCom application's callbacks: signed and encrypted (relay.web.wecom_callback).
        Route(wecom_callback.CALLBACK_PATH, bind(answered(wecom_callback.verify_url)), methods=["GET"]),
        Route(wecom_callback.CALLBACK_PATH, bind(answered(wecom_callback.receive)), methods=["POST"]),
        # A Feishu app's card callbacks: signed and encrypted (relay.web.feishu_callback).
        Route(feishu_callback.CALLBACK_PATH, bind(answered(feishu_callback.receive)), methods=["POST"]),
        # A Twilio call's status and key press: signed with the auth token (relay.web.twilio_callback).
        Route(twilio_callback.STATUS_PATH, bind(answered(twilio_callback.status)), methods=["POST"]),
        Route(twilio_callback.GATHER_PATH, bind(answered(twilio_callback.gather)), methods=["POST"]),
        # Action links: the signed token in the path is the credential (relay.web.action_links).
        Route(action_links.PATH, bind(answered(action_links.show)), methods=["GET", "HEAD"]),
        Route(action_links.PATH, bind(answered(action_links.perform)), methods=["POST"]),
        Route(WEBHOOK_PATH, bind(webhook_handler), methods=["POST"]),
        Route(WEBHOOK_PATH + "/{receiver}", bind(webhook_handler), methods=["POST"]),
        # Grafana Alerting's webhook contact point (relay.core.grafana), routed the same way.
        Route(GRAFANA_PATH, bind(grafana_handler), methods=["POST"]),
        Route(GRAFANA_PATH + "/{receiver}", bind(grafana_handler), methods=["POST"]),
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
            # Telegram bots with updates: polling (one replica polls each at a time).
            poller = asyncio.create_task(telegram_updates.Poller(state).run()) if background else None
            yield
            if poller is not None:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)
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
