"""Storm and burst digests: many notifications of one integration, merged.

**Storm.** When at least ``storm.after`` notifications of one integration are pending and
its destination's rate limit cannot let them all out within ``storm.window`` (a datacentre
link drops: 500 groups for a robot that takes 20 a minute), the dispatcher leases every
due notification of that integration and merges them into digest jobs: one entry per
group, every alert counted (relay.core.digests). In one store transaction each merged job is
marked delivered with ``digest_id`` and the digest job is added, so a crash before it
loses nothing (the leases run out and the jobs are claimed again) and a crash after it
sends the digest once (it is an ordinary job: leased, retried, resumed part by part).

**Burst.** Sixty groups that arrive over half a minute fit a 20-a-minute robot's limit
well enough never to be a storm, yet each buzzes the on-call phone. So the first
``storm.burst.after`` notifications in any ``storm.burst.window`` go alone, and later ones
are given back to the store due at the next multiple of ``storm.burst.collect`` (a
wall-clock grid: every replica and a restarted relay pick the same instant). When they come
due they are merged, with everything else due for the integration, into one digest, as a
storm's are. A notification that pages people through an escalation step is never held
back or merged by a burst: it must reach them. What went out in the window is counted
per process, like the rate limiters: N replicas let at most N × ``after`` go alone.

The notification log of each group already moved when its notification was decided
(relay.pipeline.grouping), exactly as if it were sent alone, so dedup and repeat_interval are
unaffected. When the backlog fits the rate limit again and the burst has passed,
notifications go one by one.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any

from relay.core.alerts import SEVERITY_RANK, notification_in_chunks, severity_of_labels
from relay.core.digests import Digest, digest_payload
from relay.core.integrations import kind_of
from relay.core.jobs import Job, NewJob, new_job_id
from relay.pipeline.offload import off_loop

if TYPE_CHECKING:
    from collections.abc import Callable

    from relay.channels.base import BurstConfig, Notifier
    from relay.core.clock import Clock
    from relay.obs.metrics import Metrics
    from relay.pipeline.ratelimit import LimiterRegistry
    from relay.pipeline.runtime import Runtime
    from relay.store.roles import StormQueue

logger = logging.getLogger("relay.storm")

#: Notifications merged at most per storm check (the rest wait for the next one).
MAX_MERGE = 5000
#: Sends remembered per integration for a burst's window: more than any ``after``.
MAX_COUNTED = 1000


def pages_people(job: Job) -> bool:
    """Whether the job is an escalation step that pages people: never held or merged by
    a burst, since it must reach them."""
    escalation: Any = job.payload.get("escalation")
    if not isinstance(escalation, dict):
        return False
    return any(target.get("people") for target in escalation.get("targets") or () if isinstance(target, dict))


def burstable(jobs: list[Job]) -> list[Job]:
    """The notifications among ``jobs`` a burst may hold back and merge: not digests, and
    not escalation steps that page people."""
    return [job for job in jobs if "digest" not in job.payload and not pages_people(job)]


def waited_for_digest(job: Job) -> bool:
    """Whether the job was given back to wait for a burst's digest: it was never
    attempted and came due after it was made (a new job is due when it is made)."""
    return not job.attempts and job.next_attempt_at > job.created_at


def _severity_first(job: Job) -> tuple[bool, int, float]:
    alerts = job.payload.get("alerts") or []
    labels = alerts[0].get("labels", {}) if alerts and isinstance(alerts[0], dict) else {}
    rank = severity_of_labels(labels) if isinstance(labels, dict) else SEVERITY_RANK["info"]
    return (job.payload.get("status") == "resolved", rank, job.created_at)


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
        # Per integration: when messages went out lately (a burst's window).
        self._sent: dict[str, deque[float]] = {}

    async def merge(
        self, runtime: Runtime, integration: str, jobs: list[Job], admitted: int = 0
    ) -> list[Job]:
        """``jobs`` (leased, in order; the first ``admitted`` were let out one by one
        already) minus what a storm or a burst merges into digests or holds back: returns
        what is still to be sent one by one."""
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
        if backlog >= policy.after:
            limiter = self._limiters.get(notifier.rate_limit_key, notifier.rate_limits)
            if backlog > limiter.admits(policy.window, backlog):
                return await self._storm(runtime, notifier, integration, jobs, now)
        if policy.burst.enabled:
            return await self._burst(
                runtime, notifier, policy.burst, integration, jobs, admitted, now, backlog > len(singles)
            )
        return jobs

    async def _storm(
        self, runtime: Runtime, notifier: Notifier, integration: str, jobs: list[Job], now: float
    ) -> list[Job]:
        everything = await self._with_backlog(runtime, integration, jobs, now)
        members = [job for job in everything if "digest" not in job.payload]
        keep = [job for job in everything if "digest" in job.payload]
        keep += await self._merge_all(notifier, integration, members, now, "alert storm")
        order = {job.id: i for i, job in enumerate(everything)}
        return sorted(keep, key=lambda job: order[job.id])

    async def _burst(
        self,
        runtime: Runtime,
        notifier: Notifier,
        burst: BurstConfig,
        integration: str,
        jobs: list[Job],
        admitted: int,
        now: float,
        more_due: bool,
    ) -> list[Job]:
        """``more_due``: the integration has due jobs in the store besides ``jobs``."""
        fresh = burstable(jobs[admitted:])
        if not fresh:
            self._count(integration, now, len(jobs) - admitted)
            return jobs
        if any(waited_for_digest(job) for job in fresh):
            # The burst's digest is due: merge what waited with everything else due.
            everything = await self._with_backlog(runtime, integration, jobs, now)
            members = burstable(everything[admitted:])
            merging = {job.id for job in members}
            keep = [job for job in everything if job.id not in merging]
            if len(members) > 1:
                keep += await self._merge_all(notifier, integration, members, now, "alert burst")
            else:  # there is no digest of one
                logger.info(
                    "alert burst: the one notification that waited for a digest goes alone",
                    extra={"integration": integration, "job_id": members[0].id},
                )
                keep += members
            self._count(integration, now, len(keep) - admitted)
            order = {job.id: i for i, job in enumerate(everything)}
            return sorted(keep, key=lambda job: order[job.id])
        sent = len(self._recent(integration, now, burst.window))
        # Digests and escalation pages go out whatever the burst: they take room first.
        room = max(0, burst.after - sent - (len(jobs) - admitted - len(fresh)))
        if len(fresh) <= room:
            self._count(integration, now, len(jobs) - admitted)
            return jobs
        if more_due:  # choose the most severe among everything due, not one claim's share
            jobs = await self._with_backlog(runtime, integration, jobs, now)
            fresh = burstable(jobs[admitted:])
            room = max(0, burst.after - sent - (len(jobs) - admitted - len(fresh)))
        # The most severe go first; the rest wait for the burst's digest.
        by_severity = sorted(fresh, key=_severity_first)
        alone, wait = by_severity[:room], by_severity[room:]
        due = (math.floor(now / burst.collect) + 1) * burst.collect
        await self._store.release(self._owner, [job.id for job in wait], at=due)
        for job in wait:
            self._leased.pop(job.id, None)
        logger.info(
            "alert burst: %d notifications wait %.1fs to be sent as one digest",
            len(wait),
            due - now,
            extra={"integration": integration},
        )
        chosen = {job.id for job in fresh}
        kept = [job for job in jobs if job.id not in chosen] + alone  # the most severe first
        self._count(integration, now, len(kept) - admitted)
        return kept

    async def _with_backlog(
        self, runtime: Runtime, integration: str, jobs: list[Job], now: float
    ) -> list[Job]:
        """``jobs`` and every other due job of the integration, leased to this relay."""
        lease = runtime.config.delivery.lease
        more = await self._store.claim_integration(
            self._owner, integration, now, max(0, MAX_MERGE - len(jobs)), lease
        )
        for job in more:
            self._leased.setdefault(job.id, job)
        known = {job.id for job in jobs}
        return [*jobs, *(job for job in more if job.id not in known)]

    async def _merge_all(
        self, notifier: Notifier, integration: str, members: list[Job], now: float, what: str
    ) -> list[Job]:
        """``members`` merged into digest jobs; returns those that could not be (a lease
        ran out meanwhile: they are sent one by one)."""
        keep: list[Job] = []
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
                    "%s: %d notifications merged into digest %s",
                    what,
                    len(chunk),
                    digest_job.id,
                    extra={"integration": integration, "job_id": digest_job.id},
                )
                self._metrics.storm_merged.labels(kind_of(integration)).inc(len(chunk))
            else:  # a lease ran out meanwhile: send these one by one
                keep += chunk
        if merged:
            self._wake()  # the digest jobs are due now
        return keep

    def _recent(self, integration: str, now: float, window: float) -> deque[float]:
        """When this relay let messages of ``integration`` out, within the last ``window``."""
        times = self._sent.setdefault(integration, deque())
        while times and times[0] <= now - window:
            times.popleft()
        return times

    def _count(self, integration: str, now: float, messages: int) -> None:
        """``messages`` more go out now (one by one, or as digests)."""
        times = self._sent.setdefault(integration, deque())
        times.extend([now] * max(0, messages))
        while len(times) > MAX_COUNTED:
            times.popleft()

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
