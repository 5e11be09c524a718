"""Storm digests: an integration's backlog its rate limit cannot clear in time, merged.

When at least ``storm.after`` notifications of one integration are pending and its
destination's rate limit cannot let them all out within ``storm.window`` (a datacentre
link drops: 500 groups for a robot that takes 20 a minute), the dispatcher leases every
due notification of that integration and merges them into digest jobs: one entry per
group, every alert counted (relay.core.digests). In one store transaction each merged job is
marked delivered with ``digest_id`` and the digest job is added, so a crash before it
loses nothing (the leases run out and the jobs are claimed again) and a crash after it
sends the digest once (it is an ordinary job: leased, retried, resumed part by part).

The notification log of each group already moved when its notification was decided
(relay.pipeline.grouping), exactly as if it were sent alone, so dedup and repeat_interval are
unaffected. When the backlog fits the rate limit again, notifications go one by one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from relay.core.alerts import notification_in_chunks
from relay.core.digests import Digest, digest_payload
from relay.core.integrations import kind_of
from relay.core.jobs import Job, NewJob, new_job_id
from relay.pipeline.offload import off_loop

if TYPE_CHECKING:
    from collections.abc import Callable

    from relay.channels.base import Notifier
    from relay.core.clock import Clock
    from relay.obs.metrics import Metrics
    from relay.pipeline.ratelimit import LimiterRegistry
    from relay.pipeline.runtime import Runtime
    from relay.store.roles import StormQueue

logger = logging.getLogger("relay.storm")

#: Notifications merged at most per storm check (the rest wait for the next one).
MAX_MERGE = 5000


class StormMerger:
    """The dispatcher's storm check, given what it shares with the dispatcher: the store
    and its lease owner, the clock, the rate limiters, the ledger of leased jobs (jobs it
    leases join it; jobs merged into a digest leave it) and a way to wake the claim loop."""

    def __init__(
        self,
        *,
        store: StormQueue,
        clock: Clock,
        metrics: Metrics,
        owner: str,
        limiters: LimiterRegistry,
        leased: dict[str, Job],
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._owner = owner
        self._limiters = limiters
        self._leased = leased
        self._wake = wake

    async def merge(self, runtime: Runtime, integration: str, jobs: list[Job]) -> list[Job]:
        """``jobs`` (leased, in order) or, in a storm, the digest jobs' predecessors
        removed: returns what is still to be sent one by one."""
        notifier = runtime.notifiers.get(integration)
        policy = notifier.storm if notifier is not None else None
        if (
            notifier is None
            or policy is None
            or not policy.enabled
            or not notifier.rate_limit_key
            or not notifier.rate_limits
        ):
            return jobs
        singles = [job for job in jobs if "digest" not in job.payload]
        if not singles:
            return jobs
        now = self._clock.now()
        backlog = len(singles) + await self._store.count_due(integration, now)
        if backlog < policy.after:
            return jobs
        limiter = self._limiters.get(notifier.rate_limit_key, notifier.rate_limits)
        if backlog <= limiter.admits(policy.window, backlog):
            return jobs
        lease = runtime.config.delivery.lease
        more = await self._store.claim_integration(
            self._owner, integration, now, max(0, MAX_MERGE - len(singles)), lease
        )
        for job in more:
            self._leased.setdefault(job.id, job)
        known = {job.id for job in jobs}
        everything = [*jobs, *(job for job in more if job.id not in known)]
        members = [job for job in everything if "digest" not in job.payload]
        keep = [job for job in everything if "digest" in job.payload]
        merged = 0
        # Reading the notifications back and rendering digests to size them is CPU work
        # (a storm is many groups): in the CPU worker thread, not on the event loop.
        planned = await off_loop(self._plan, notifier, integration, members, now)
        for chunk, digest_job in planned:
            if await self._store.merge_into_digest(self._owner, digest_job, [j.id for j in chunk], now):
                merged += len(chunk)
                for job in chunk:
                    self._leased.pop(job.id, None)
                logger.warning(
                    "alert storm: %d notifications merged into digest %s",
                    len(chunk),
                    digest_job.id,
                    extra={"integration": integration, "job_id": digest_job.id},
                )
                self._metrics.storm_merged.labels(kind_of(integration)).inc(len(chunk))
            else:  # a lease ran out meanwhile: send these one by one
                keep += chunk
        if merged:
            self._wake()  # the digest jobs are due now
        order = {job.id: i for i, job in enumerate(everything)}
        return sorted(keep, key=lambda job: order[job.id])

    def _digest_job(self, integration: str, jobs: list[Job], now: float) -> NewJob:
        items = [(j.id, j.group_key, notification_in_chunks(j.payload)) for j in jobs]
        digest = Digest.of_notifications("storm", jobs[0].receiver, integration, items, now)
        return NewJob(
            id=new_job_id(),
            receiver=jobs[0].receiver,
            integration=integration,
            group_key=f"storm-digest|{integration}",
            payload=digest_payload(digest),
            created_at=now,
        )

    def _plan(
        self, notifier: Notifier, integration: str, jobs: list[Job], now: float
    ) -> list[tuple[list[Job], NewJob]]:
        """``jobs`` in digests each small enough to be sent within one window of the
        destination's tightest rate, with each digest's job."""
        most = min(rate.count for rate in notifier.rate_limits)
        pending = [jobs]
        done: list[tuple[list[Job], NewJob]] = []
        while pending:
            chunk = pending.pop(0)
            digest_job = self._digest_job(integration, chunk, now)
            digest = Digest.from_dict(digest_job.payload["digest"])
            if len(chunk) > 1 and notifier.digest_messages(digest) > most:
                half = len(chunk) // 2
                pending[:0] = [chunk[:half], chunk[half:]]
                continue
            done.append((chunk, digest_job))
        return done
