"""The running service: the current runtime (swapped on reload), the store and what
the loops share; readiness; the background loops (group flush, kept webhooks, prune)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from relay import __version__
from relay.channels.http11 import delivery_client
from relay.config import Config, load_config
from relay.core.actions import ActionKey
from relay.core.clock import Clock
from relay.core.errors import ConfigError, StoreUnavailable
from relay.core.escalations import StepFired
from relay.core.grafana import grafana_webhook
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.integrations import kind_of
from relay.core.jobs import Job
from relay.core.schedules import Override
from relay.core.timeline import firing_since
from relay.obs.metrics import Metrics
from relay.pipeline.calls import call_ended
from relay.pipeline.dispatch import Dispatcher
from relay.pipeline.escalation import restep
from relay.pipeline.flush import Flushed, flush_due
from relay.pipeline.heartbeats import CHECK_INTERVAL as HEARTBEAT_CHECK_INTERVAL
from relay.pipeline.heartbeats import Checked, check_heartbeats
from relay.pipeline.offload import off_loop
from relay.pipeline.oncall import overrides_by_schedule
from relay.pipeline.runtime import Runtime
from relay.store.base import Store
from relay.store.roles import DeliveryLog
from relay.web.console.throttle import LoginThrottle
from relay.web.kept import FLUSH_EVERY as KEPT_FLUSH_EVERY
from relay.web.kept import WebhookKeeper
from relay.web.parsed import ParsedWebhooks

logger = logging.getLogger("relay.app")

FLUSH_INTERVAL = 0.5
PRUNE_INTERVAL = 600.0
WEBHOOK_PATH = "/api/v1/alerts/webhook"
GRAFANA_PATH = "/api/v1/grafana/webhook"
WRITE_PROBE_KEY = "relay:ready-probe"
ACTION_KEY_REF = "relay:action-key"
ACTION_KEY_TTL = 100 * 365 * 86400.0  # kept: a new key would break every link sent


class RelayState:
    """The running service: the current runtime (swapped on reload) and what it shares."""

    def __init__(
        self, config: Config, *, store: Store, clock: Clock, metrics: Metrics, config_path: str | None
    ) -> None:
        self.config_path = config_path
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.started_at = time.time()
        self.loaded_at = time.time()
        self.http = delivery_client(
            timeout=config.delivery.timeout,
            user_agent=f"relay/{__version__}",
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        # The key action links are signed with: read from the store when it opens.
        self.action_key = ActionKey()
        self.runtime = Runtime.build(
            config, http=self.http, store=store, metrics=metrics, action_key=self.action_key, now=clock.now
        )
        self.owner = f"{socket.gethostname()}-{os.getpid()}"
        self.dispatcher = Dispatcher(
            store=store,
            clock=clock,
            metrics=metrics,
            runtime=lambda: self.runtime,
            owner=self.owner,
            calls_ended=self._calls_ended,
        )
        # Wrong sign-ins to the console, per client (slows down guessing the token).
        self.login_throttle = LoginThrottle()
        # The last webhooks for the console, written to the store in batches.
        self.kept = WebhookKeeper()
        self.parsed_webhooks = ParsedWebhooks()  # recent bodies, parsed (relay.web.parsed)
        self.parsed_grafana = ParsedWebhooks(parser=grafana_webhook)  # Grafana's, apart
        self.last_reload_error = ""
        # Why the store last failed to commit; None while commits succeed. A SELECT can
        # succeed while every commit fails (disk full), so readiness follows this.
        self.store_problem: str | None = None
        self._reload_lock = asyncio.Lock()
        # The schedules' overrides made at run time, as last read (every flush while a
        # route escalates, and after this replica adds or removes one): whom a step
        # pages. Another replica's change is seen within a flush interval.
        self.overrides: dict[str, tuple[Override, ...]] = {}
        # Heartbeats: since when this replica has been running (by the injected clock:
        # it raises nothing before a grace has passed), and when each heartbeat was
        # first expected (read once from the store).
        self.checking_since = clock.now()
        self.heartbeat_since: dict[str, float] = {}
        metrics.config_last_reload_successful.set(1)
        metrics.config_last_reload_success_timestamp.set(self.loaded_at)

    @property
    def delivery_log(self) -> DeliveryLog:
        """The store as the console and the API read it (relay.store.roles)."""
        return self.store

    async def reload(self, config: Config | None = None) -> str | None:
        """Load the config again and swap it in; on error keep the old one. None means ok."""
        async with self._reload_lock:
            try:
                if config is None:
                    if self.config_path is None:
                        raise ConfigError(["no config file to reload from"])
                    # Parsing and checking a config is CPU work: off the event loop.
                    config = await off_loop(load_config, self.config_path)
                if config.storage.url != self.runtime.config.storage.url:
                    raise ConfigError(["storage.url: cannot change on reload; restart relay"])
                problems = await off_loop(Runtime.check_templates, config)
                if problems:
                    raise ConfigError(problems)
                new = Runtime.build(
                    config,
                    http=self.http,
                    store=self.store,
                    metrics=self.metrics,
                    action_key=self.action_key,
                    now=self.clock.now,
                )
            except ConfigError as exc:
                return self._reload_failed(exc.problems)
            except Exception as exc:
                # A file no check foresaw must still leave the running config in place,
                # the metric at 0 (the shipped alert fires) and an answer, never a 500
                # "internal error" or a SIGHUP that only logs "Task exception".
                logger.exception("config reload failed unexpectedly; keeping the running config")
                return self._reload_failed([f"cannot load the config: {type(exc).__name__}: {exc}"])
            old, self.runtime = self.runtime, new
            restep_needed = old.escalation_plan() != new.escalation_plan()
            self.loaded_at = time.time()
            self.last_reload_error = ""
            self.metrics.config_last_reload_successful.set(1)
            self.metrics.config_last_reload_success_timestamp.set(self.loaded_at)
            logger.info("config reloaded", extra={"digest": new.config.digest})
            for warning in new.config.warnings:
                logger.warning("config warning: %s", warning)
            await old.aclose()
            if restep_needed:
                # Steps already timed by the old policies: time them by the new ones.
                await self._restep_escalations()
            return None

    async def _restep_escalations(self) -> None:
        now, after = self.clock.now(), None
        try:
            while True:
                page, after = await self.store.list_groups(after, 500)
                await self.apply([restep(g.key, now) for g in page if g.escalation is not None])
                if after is None:
                    return
        except StoreUnavailable as exc:
            logger.warning("after a reload, escalations keep their old step times: %s", exc)

    def _reload_failed(self, problems: list[str]) -> str:
        self.metrics.config_last_reload_successful.set(0)
        self.last_reload_error = "\n".join(problems)
        logger.error("config reload failed; keeping the running config", extra={"problems": problems})
        return self.last_reload_error

    def config_summary(self) -> dict[str, Any]:
        """The running config as /api/v1/status and the console show it."""
        config = self.runtime.config
        return {
            "source": config.source,
            "hash": config.digest,
            "loaded_at": self.loaded_at,
            "last_reload_error": self.last_reload_error,
            "warnings": config.warnings,
        }

    async def _calls_ended(self, job: Job, results: list[dict[str, Any]]) -> None:
        """How the calls of a delivered job ended, on its group's timeline."""
        now = self.clock.now()
        via = kind_of(job.integration)
        updates = [
            call_ended(
                job.group_key,
                to=str(r.get("to", "")),
                status=str(r["call"].get("status", "")),
                now=now,
                via=via,
                duration=r["call"].get("duration"),
                answered=r["call"].get("answered"),
            )
            for r in results
        ]
        await self.apply(updates)

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
        if path.startswith((WEBHOOK_PATH, GRAFANA_PATH)):
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

    async def read_overrides(self) -> None:
        """Read the overrides made at run time again (see ``overrides``)."""
        self.overrides = overrides_by_schedule(await self.store.list_overrides())

    def count_escalated(self, steps: list[StepFired]) -> None:
        """Metrics and a log line for each escalation step that fired (once: committed)."""
        for step in steps:
            self.metrics.escalation_steps.labels(step.policy, str(step.step)).inc()
            extra = {
                "policy": step.policy,
                "step": step.step,
                "round": step.round,
                "people": list(step.people),
                "group_key": step.group_key,
            }
            if step.nobody:
                logger.warning(
                    "escalation step %d of %s pages nobody for %s",
                    step.step,
                    step.policy,
                    ", ".join(step.nobody),
                    extra=extra,
                )
            else:
                logger.info("escalation step %d of %s fired", step.step, step.policy, extra=extra)

    def count_acknowledged(self, group: GroupState, now: float) -> None:
        """relay_time_to_acknowledge_seconds for a group acknowledged at ``now``."""
        since = firing_since(group)
        if since is not None and now >= since:
            self.metrics.time_to_acknowledge.labels(group.receiver).observe(now - since)

    async def flush_due(self) -> int:
        """Flush groups whose timer has fired (relay.pipeline.flush); returns
        notifications created."""
        runtime = self.runtime
        if runtime.escalates:
            await self.read_overrides()
        flushed = await flush_due(self.store, runtime, self.clock.now(), self.apply, self.overrides)
        return self._committed(flushed)

    async def check_heartbeats(self) -> int:
        """Raise or resolve each heartbeat's missing alert (relay.pipeline.heartbeats);
        returns notifications created."""
        runtime = self.runtime
        if not runtime.heartbeats:
            return 0
        now = self.clock.now()
        ctx = runtime.heartbeat_context(now, self.overrides)
        checked = await check_heartbeats(
            self.store, ctx, now, self.checking_since, self.apply, self.heartbeat_since
        )
        for name, reading in checked.readings.items():
            if reading.last_beat is not None:
                self.metrics.heartbeat_last_seen.labels(name).set(reading.last_beat)
        return self._committed(checked)

    def _committed(self, done: Flushed | Checked) -> int:
        """Metrics for what a timer's commit did; the dispatcher woken for its jobs."""
        self.count_escalated(done.escalated)
        for skipped in done.suppressed:
            self.metrics.suppressed.labels(skipped.receiver, skipped.reason).inc()
        if done.jobs:
            self.dispatcher.wake()
        return done.jobs

    async def _every(
        self, interval: float, work: Callable[[], Awaitable[Any]], name: str, *, at_start: bool = False
    ) -> None:
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

    async def load_action_key(self) -> None:
        """The action key every replica shares: made by the first, kept in the store."""
        found = await self.store.get_ref(ACTION_KEY_REF)
        if found is None:
            await self.store.add_ref(ACTION_KEY_REF, {"key": secrets.token_hex(32)}, ACTION_KEY_TTL)
            found = await self.store.get_ref(ACTION_KEY_REF)
        if found is not None:
            self.action_key.value = bytes.fromhex(str(found["key"]))

    @contextlib.asynccontextmanager
    async def running(self, background: bool = True) -> AsyncIterator[None]:
        await self.store.open()
        self.checking_since = self.clock.now()
        await self.load_action_key()
        if self.runtime.escalates:
            await self.read_overrides()
        logger.info(
            "relay started",
            extra={"storage": self.store.describe(), "config_hash": self.runtime.config.digest},
        )
        tasks: list[asyncio.Task[None]] = []
        if background:
            self.dispatcher.start()
            tasks = [
                asyncio.create_task(self._every(FLUSH_INTERVAL, self.flush_due, "group flush")),
                asyncio.create_task(self._every(KEPT_FLUSH_EVERY, self.flush_kept, "keep webhooks")),
                asyncio.create_task(
                    self._every(HEARTBEAT_CHECK_INTERVAL, self.check_heartbeats, "heartbeat check")
                ),
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
