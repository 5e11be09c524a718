"""Dispatch: senders take due jobs, wait for the destination's limiter, send, record.

Each integration has its own senders (relay.pipeline.lanes), so a destination that hangs
only delays its own jobs, and its own share of what this dispatcher holds: an integration
holds at most ``delivery.max_in_flight_per_integration`` jobs (queued for its senders +
being sent, rate-limiter waits included), so one that hangs holds its share and never more, and the
others keep the rest of ``max_in_flight``. A job whose attempt is being recorded is no longer
counted: its replacement is claimed while the record commits. Retries are persisted (a job's next attempt
time lives in the store), so a restart keeps the schedule; relay.pipeline.retry decides the
backoff and when to give up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from relay.channels.base import Message
from relay.core.clock import Clock
from relay.core.digests import DigestMessage
from relay.core.errors import DeliveryError, PermanentError, RetryableError, StoreUnavailable
from relay.core.integrations import kind_of
from relay.core.jobs import Attempt, Job
from relay.core.secrets import redact
from relay.obs.metrics import Metrics
from relay.pipeline.attempt import REDACT_OFF_LOOP_CHARS, is_big, keep_sent, message_of, throttle_wait
from relay.pipeline.lanes import Lanes
from relay.pipeline.offload import off_loop
from relay.pipeline.ratelimit import DeliveryPace, LimiterRegistry
from relay.pipeline.retry import RetryPolicy, attempts_made, retry_window_start
from relay.pipeline.runtime import Runtime
from relay.pipeline.storm import StormMerger
from relay.store.roles import DispatchStore

logger = logging.getLogger("relay.dispatch")

#: ``calls_ended(job, results)``: the results of a delivered job's parts that say how a
#: call ended (``{"to": masked, "call": {"status", "answered", "duration"}}``).
CallsEnded = Callable[[Job, list[dict[str, Any]]], Awaitable[None]]


@dataclass
class _Held:
    job: Job
    integration: str


class Dispatcher:
    def __init__(
        self,
        *,
        store: DispatchStore,
        clock: Clock,
        metrics: Metrics,
        runtime: Callable[[], Runtime],
        owner: str,
        poll_interval: float = 0.5,
        calls_ended: CallsEnded | None = None,
    ) -> None:
        self._store = store
        # How the calls a job placed ended (a vendor asked after each call): for the
        # group's timeline (relay.pipeline.calls).
        self._calls_ended = calls_ended
        self._clock = clock
        self._metrics = metrics
        self._runtime = runtime
        self._owner = owner
        self._poll_interval = poll_interval
        # Rate limiters by destination. Public so a test (or a benchmark) can put one on
        # a virtual clock: LimiterRegistry(monotonic=..., sleep=...).
        self.limiters = LimiterRegistry()
        self._lanes = Lanes(self._send_one)
        self._held: dict[str, Job] = {}  # job id -> job, leased by this dispatcher
        # Held jobs whose attempt is over and being recorded: no longer at the
        # destination, so their replacements are claimed meanwhile (see run_once).
        self._recording: set[str] = set()
        self._wake = asyncio.Event()
        self._storms = StormMerger(
            store=store,
            clock=clock,
            metrics=metrics,
            owner=owner,
            limiters=self.limiters,
            leased=self._held,
            wake=self.wake,
        )
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="relay-claim"),
            asyncio.create_task(self._renew_loop(), name="relay-renew"),
        ]

    def wake(self) -> None:
        """New jobs were committed: look for work now instead of at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; let attempts under way finish for ``grace`` seconds; give the
        rest back to the store unattempted, so they stay queued for the next start."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        senders = self._lanes.senders()
        if senders:
            _, pending = await asyncio.wait(senders, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._held:
            try:
                await self._store.release(self._owner, list(self._held))
            except StoreUnavailable:
                logger.warning("could not release %d jobs; their leases will expire", len(self._held))
            self._held.clear()

    # -- claiming ---------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except StoreUnavailable as exc:
                logger.warning("store unavailable while claiming jobs: %s", exc)
                await asyncio.sleep(1.0)
            except Exception:
                logger.exception("claim loop error")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    def rate_limit(self, integration: str) -> dict[str, Any] | None:
        """The integration's destination limits as this process sees them (limiters are
        per process): each window's use, the next free slot; None when not limited."""
        notifier = self._runtime().notifiers.get(integration)
        if notifier is None or not notifier.rate_limit_key or not notifier.rate_limits:
            return None
        found = self.limiters.state(notifier.rate_limit_key)
        if found is not None:
            return found
        return {
            "windows": [{"limit": r.count, "per_seconds": r.per, "used": 0} for r in notifier.rate_limits],
            "next_free_in": 0.0,
            "blocked_for": 0.0,
        }

    def held(self) -> dict[str, int]:
        """Jobs this dispatcher holds per integration: queued for its senders or being sent."""
        return self._per_integration(self._held)

    def _claim_held(self) -> dict[str, int]:
        """What each integration's share counts: held jobs not being recorded."""
        return self._per_integration(set(self._held) - self._recording)

    def _per_integration(self, job_ids: Iterable[str]) -> dict[str, int]:
        return dict(Counter(self._held[job_id].integration for job_id in job_ids))

    async def run_once(self) -> int:
        """Claim what is due and hand it to the integrations' senders; returns jobs claimed.

        Each integration gets at most its share minus what it holds already, so a stuck
        one cannot take the slots of the others (the store applies the share).
        """
        delivery = self._runtime().config.delivery
        # A job whose attempt is being recorded does not count: its sender takes the job
        # claimed in its place as soon as the record is committed, instead of waiting for
        # a claim then. Each sender records one job at a time, so at most
        # parallel_sends_per_integration jobs are recorded at once, as before.
        held = self._claim_held()
        capacity = delivery.max_in_flight - sum(held.values())
        if capacity <= 0:
            return 0
        jobs = await self._store.claim_jobs(
            self._owner,
            self._clock.now(),
            capacity,
            delivery.lease,
            per_integration=delivery.integration_share,
            held=held,
        )
        claimed: dict[str, list[Job]] = {}
        for job in jobs:
            if job.id in self._held:
                continue  # our own lease ran out and came back to us: it is queued already
            self._held[job.id] = job
            claimed.setdefault(job.integration, []).append(job)
        for integration, batch in claimed.items():
            # What this integration has queued is taken out (no await before it is put
            # back, so none of its senders can start one of them meanwhile) and, unless a
            # storm merges it, put back in order.
            waiting = self._lanes.take_all(integration)
            try:
                to_send = await self._storms.merge(
                    self._runtime(), integration, [*waiting, *batch], admitted=len(waiting)
                )
            except StoreUnavailable as exc:
                logger.warning("could not merge a storm, sending one by one: %s", exc)
                to_send = [*waiting, *batch]
            self._lanes.put(integration, to_send, self._senders_for(integration))
        return len(jobs)

    async def settle(self) -> None:
        """Wait until every sender has emptied its queue (tests, benchmarks)."""
        while senders := self._lanes.senders():
            await asyncio.gather(*senders, return_exceptions=True)

    def _senders_for(self, integration: str) -> int:
        """How many of the integration's jobs are sent at once: one to a destination with
        a rate limit (what waits can still be merged by a storm), else up to
        ``delivery.parallel_sends_per_integration``."""
        runtime = self._runtime()
        notifier = runtime.notifiers.get(integration)
        if notifier is None or notifier.rate_limits:
            return 1
        return runtime.config.delivery.parallel_sends

    async def _renew_loop(self) -> None:
        while not self._stopping:
            lease = self._runtime().config.delivery.lease
            await asyncio.sleep(lease / 3)
            if self._held:
                try:
                    await self._store.renew(self._owner, list(self._held), self._clock.now() + lease)
                except StoreUnavailable as exc:
                    logger.warning("could not renew leases: %s", exc)

    async def _send_one(self, job: Job) -> None:
        try:
            await self.deliver(job)
        except StoreUnavailable as exc:
            # The attempt could not be recorded: this job is no longer renewed, so its
            # lease runs out and it is attempted again (at least once). This sender waits
            # for the store, rather than send the rest of the queue unrecorded as well.
            logger.warning(
                "could not record an attempt; the job will be retried: %s",
                exc,
                extra={"job_id": job.id, "integration": job.integration},
            )
            self._held.pop(job.id, None)
            await self._until_store_answers()
        finally:
            self._held.pop(job.id, None)
            if self._lanes.queued(job.integration) <= self._runtime().config.delivery.integration_share // 2:
                # Half its share free: claim more now, or a backlog drains one batch
                # per poll.
                self.wake()

    async def _until_store_answers(self) -> None:
        while not self._stopping:
            await asyncio.sleep(1.0)
            try:
                await self._store.ping()
                return
            except StoreUnavailable:
                continue

    # -- one attempt --------------------------------------------------------------------
    async def deliver(self, job: Job) -> None:
        """One attempt at ``job``, recorded in the store whatever happens."""
        runtime = self._runtime()
        notifier = runtime.notifiers.get(job.integration)
        kind = kind_of(job.integration)
        if notifier is None:
            error = PermanentError(
                "unknown_integration",
                f"integration {job.integration} is not in the current config",
            )
            await self._finish(job, kind, error, 0.0, runtime)
            return
        attempt = len(job.attempts) + 1
        limiter = self.limiters.get(notifier.rate_limit_key, notifier.rate_limits)
        # A notifier has its own timeouts; this outer bound catches one that ignores them.
        hard_timeout = runtime.config.delivery.timeout * 3 + 5
        pace = DeliveryPace(limiter, hard_timeout)
        message: Message | DigestMessage
        # Reading, rendering and splitting a big group is CPU work: off the event loop, so
        # ingest, /-/healthy and every other delivery keep going meanwhile. A small one
        # takes less than the hop to the worker thread, and must not queue behind a big one.
        big = is_big(job.payload)
        try:
            if big:
                message = await off_loop(message_of, job, attempt, pace)
            else:
                message = message_of(job, attempt, pace)
        except Exception as exc:  # a payload the store kept but this version cannot read
            logger.exception("job %s cannot be read", job.id)
            error = PermanentError("bad_payload", f"the stored job cannot be read: {exc}")
            await self._finish(job, kind, error, 0.0, runtime)
            return
        if big:
            try:
                await off_loop(notifier.prepare, message)
            except Exception:  # send renders again and reports what fails
                logger.exception("preparing %s for %s failed", job.id, job.integration)
        await limiter.acquire()  # the first message's place; each further part waits for its own
        started = time.monotonic()
        outcome: DeliveryError | None
        detail = ""
        ended: list[dict[str, Any]] = []
        sent: list[str] = []
        try:
            sending = (
                notifier.send_digest(message)
                if isinstance(message, DigestMessage)
                else notifier.send(message)
            )
            async with asyncio.timeout(hard_timeout) as deadline:
                pace.deadline = deadline
                delivery = await sending
            outcome, detail, sent = None, delivery.detail, delivery.sent
            ended = [r for r in delivery.data.get("results") or [] if isinstance(r, dict) and "call" in r]
        except DeliveryError as exc:
            outcome = exc
            sent = exc.sent  # what this attempt sent, the failing part included
        except TimeoutError:
            outcome = RetryableError("timeout", f"no answer within {hard_timeout:g}s")
        except asyncio.CancelledError:
            raise  # shutdown: the job stays leased and is released by stop()
        except Exception as exc:  # a bug in a notifier must not lose the alert
            logger.exception("notifier %s raised unexpectedly", job.integration)
            outcome = RetryableError("internal_error", redact(repr(exc), runtime.secrets))
        if not pace.answers:  # a notifier that posts once, without send_parts
            limiter.sent()
        if isinstance(outcome, RetryableError) and outcome.throttled:
            # The vendor counts more than relay sent (another sender shares the robot, or
            # a restart forgot the window): hold every message to it, not only this one.
            limiter.block(throttle_wait(notifier, outcome))
        self._recording.add(job.id)
        self.wake()  # its replacement is claimed while this attempt is recorded
        try:
            await self._finish(job, kind, outcome, time.monotonic() - started, runtime, detail, sent)
        finally:
            self._recording.discard(job.id)
        if outcome is None and ended and self._calls_ended is not None:
            try:
                await self._calls_ended(job, ended)
            except StoreUnavailable as exc:  # only the timeline lacks it: the job is done
                logger.warning("cannot note how job %s's calls ended: %s", job.id, exc)

    async def _finish(
        self,
        job: Job,
        kind: str,
        error: DeliveryError | None,
        duration: float,
        runtime: Runtime,
        detail: str = "",
        sent: list[str] | None = None,
    ) -> None:
        now = self._clock.now()
        # The message as sent is kept for the console: secrets out, size bounded. Ten
        # parts of a big group are ~0.3 MB of text to search for secrets: off the loop.
        sent = sent or []
        kept = (
            await off_loop(keep_sent, sent, runtime.secrets)
            if sum(len(part) for part in sent) > REDACT_OFF_LOOP_CHARS
            else keep_sent(sent, runtime.secrets)
        )
        log = {"job_id": job.id, "integration": job.integration, "receiver": job.receiver}
        if error is None:
            attempt = Attempt(
                at=now, duration=duration, outcome="delivered", reason="ok", detail=detail, sent=kept
            )
            await self._store.record_attempt(job, attempt)
            self._metrics.attempts.labels(kind, "ok").inc()
            self._metrics.notifications.labels(job.receiver, kind, "delivered").inc()
            self._metrics.delivery_latency.labels(kind).observe(max(0.0, now - job.created_at))
            logger.info("delivered", extra={**log, "attempt": len(job.attempts) + 1})
            return
        message = redact(error.message, runtime.secrets)
        self._metrics.attempts.labels(kind, error.reason).inc()
        next_at: float | None = None
        if isinstance(error, RetryableError):
            next_at = RetryPolicy(runtime.config.delivery).next_attempt(
                attempts_made(job) + 1, retry_window_start(job), now, error.retry_after
            )
        outcome: Literal["retry", "dead"] = "retry" if next_at is not None else "dead"
        attempt = Attempt(
            at=now, duration=duration, outcome=outcome, reason=error.reason, error=message, sent=kept
        )
        await self._store.record_attempt(job, attempt, next_at)
        self._metrics.notifications.labels(
            job.receiver, kind, "failed" if next_at is not None else "dead"
        ).inc()
        if next_at is not None:
            logger.warning(
                "delivery failed, will retry",
                extra={**log, "reason": error.reason, "error": message, "retry_in": round(next_at - now, 3)},
            )
        else:
            logger.error(
                "delivery failed, dead-lettered",
                extra={**log, "reason": error.reason, "error": message, "permanent": not error.retryable},
            )
