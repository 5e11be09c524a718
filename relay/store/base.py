"""The store interface every backend implements (SQLite for one process, Redis for HA).

The pipeline only ever talks to :class:`Store`. Group changes are expressed as pure
*transitions* (old state -> new state + jobs) so that each backend can apply them
atomically in its own way: SQLite in one transaction, Redis with optimistic
WATCH/MULTI retries. A transition may therefore run more than once and must have no
side effects.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import Attempt, Job, JobStatus, LogStatus, NewJob, alertnames_of

#: The unit of the per-integration delivery counters (seconds): the last hour is the
#: last 12 buckets, the last day the last 288.
STATS_BUCKET = 300
STATS_KEEP = 86400 + 2 * STATS_BUCKET  # counters older than a day and a bucket go


@dataclass(frozen=True)
class JobQuery:
    """One page of the delivery log: newest first (created_at, then id, descending),
    every filter given must hold, and only jobs strictly after ``cursor`` (the last
    (created_at, id) of the previous page) in that order."""

    status: LogStatus | None = None
    receiver: str | None = None
    integration: str | None = None
    group_key: str | None = None
    alertname: str | None = None
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at <= until
    cursor: tuple[float, str] | None = None
    limit: int = 50

    def admits(self, job: Job) -> bool:
        """Whether ``job`` passes every filter (a backend that walks the index of one
        filter checks the others with this)."""
        return (
            (self.status is None or job.in_log_status(self.status))
            and (self.receiver is None or job.receiver == self.receiver)
            and (self.integration is None or job.integration == self.integration)
            and (self.group_key is None or job.group_key == self.group_key)
            and (self.alertname is None or self.alertname in alertnames_of(job.payload))
        )


@dataclass
class JobPage:
    """A page of the log. ``next`` is where the next page starts, None at the end. A page
    may hold fewer than ``limit`` jobs and still have a ``next`` (a backend that bounds
    its scan per page stops early); only ``next is None`` means the end."""

    jobs: list[Job]
    next: tuple[float, str] | None


@dataclass
class IntegrationStats:
    """Health of one integration, kept as counters (no scan of the log)."""

    last_at: float | None = None
    last_outcome: str = ""
    last_reason: str = ""
    last_error: str = ""
    hour_delivered: int = 0
    hour_failed: int = 0
    day_delivered: int = 0
    day_failed: int = 0
    queue: int = 0  # pending + running
    oldest_queued_at: float | None = None
    dead: int = 0


@dataclass
class KeptWebhook:
    """A webhook as received, kept for the console (server.ui.keep_webhooks)."""

    id: str
    received_at: float
    receiver: str  # the receiver in the URL path, "" for the route tree
    body: str

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at,
            "receiver": self.receiver,
            "bytes": len(self.body.encode("utf-8")),
        }


def stats_bucket(at: float) -> int:
    """The counter bucket an attempt at ``at`` falls in (its start, unix seconds)."""
    return int(at // STATS_BUCKET) * STATS_BUCKET


def hour_and_day_buckets(now: float) -> tuple[int, int]:
    """The first bucket of the last hour and of the last day, the current one included."""
    current = stats_bucket(now)
    return current - (3600 // STATS_BUCKET - 1) * STATS_BUCKET, current - (
        86400 // STATS_BUCKET - 1
    ) * STATS_BUCKET


@dataclass(frozen=True)
class ClaimRoom:
    """How many jobs of each integration one :meth:`Store.claim_jobs` call may hand out."""

    limit: int
    exclude: frozenset[str] = frozenset()
    per_integration: int | None = None
    held: Mapping[str, int] = field(default_factory=dict)

    def of(self, integration: str) -> int:
        if integration in self.exclude:
            return 0
        return max(
            0,
            min(
                self.unlisted,
                self.limit
                if self.per_integration is None
                else self.per_integration - self.held.get(integration, 0),
            ),
        )

    @property
    def unlisted(self) -> int:
        """The room of an integration neither excluded nor held."""
        return self.limit if self.per_integration is None else min(self.limit, self.per_integration)

    def listed(self) -> dict[str, int]:
        """The room of every integration excluded or held (the others have ``unlisted``)."""
        return {name: self.of(name) for name in sorted({*self.exclude, *self.held})}


class Store(abc.ABC):
    """Durable state shared by ingest, the group flusher and the dispatcher.

    Every method may raise :class:`relay.core.errors.StoreUnavailable` when the backend
    cannot be reached or cannot commit; callers turn that into 503 / a retry later.
    """

    # -- lifecycle -----------------------------------------------------------------
    def prepare(self) -> None:
        """Checks that need no connection, run before serving (SQLite: take the file for
        this process). Raises StoreUnavailable; open() runs them too."""
        return None

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create the schema, and return leases held by a previous run."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers now (readiness)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The backend and its location with any password removed, for /api/v1/status."""

    # -- groups and the notification log -------------------------------------------
    @abc.abstractmethod
    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        """Apply each transition atomically against the group's current state.

        All updates and the jobs they create are durable when this returns. Results
        come back in the order of ``updates``. Identical updates racing from several
        replicas see each other's committed state (one of them sees the other's log).
        """

    @abc.abstractmethod
    async def due_groups(self, now: float, limit: int = 100) -> list[str]:
        """Keys of groups whose ``next_flush_at`` is at or before ``now``."""

    @abc.abstractmethod
    async def get_group(self, key: str) -> GroupState | None: ...

    # -- jobs -------------------------------------------------------------------------
    @abc.abstractmethod
    async def claim_jobs(
        self,
        owner: str,
        now: float,
        limit: int,
        lease: float,
        exclude_integrations: Collection[str] = (),
        *,
        per_integration: int | None = None,
        held: Mapping[str, int] | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` due pending jobs (and jobs whose lease ran out) to ``owner``.

        Oldest first. A leased job is not handed to anyone else until ``now + lease``,
        unless renewed with :meth:`renew`. No job of ``exclude_integrations`` is handed
        out. With ``per_integration``, an integration gets at most ``per_integration -
        held[integration]`` jobs (``held``: how many of its jobs the caller holds
        already), counting jobs whose lease ran out: none once it holds its share.
        :class:`ClaimRoom` is that rule.
        """

    # Storm digests (relay.pipeline.storm). Both backends implement these; the defaults are a
    # store that cannot merge (test doubles): notifications then go one by one.
    async def count_due(self, integration: str, now: float) -> int:
        """Pending jobs of ``integration`` due at ``now`` (not leased): a storm's backlog."""
        return 0

    async def claim_integration(
        self, owner: str, integration: str, now: float, limit: int, lease: float
    ) -> list[Job]:
        """Lease up to ``limit`` due jobs of one integration to ``owner`` (oldest first,
        jobs whose lease ran out included): the rest of a storm, to merge it."""
        return []

    async def merge_into_digest(
        self, owner: str, digest: NewJob, merged: Collection[str], now: float
    ) -> bool:
        """Atomically: mark every job of ``merged`` delivered as part of ``digest`` (an
        attempt "digest", ``digest_id``) and add ``digest`` as a pending job. Only if
        ``owner`` still holds the lease of every one of them; else nothing is written
        and False is returned (a lease ran out: another replica may be sending it)."""
        return False

    @abc.abstractmethod
    async def renew(self, owner: str, job_ids: Collection[str], until: float) -> None:
        """Extend the leases ``owner`` holds on these jobs (a slow delivery keeps its job)."""

    @abc.abstractmethod
    async def record_attempt(self, job: Job, attempt: Attempt, next_attempt_at: float | None = None) -> None:
        """Record an attempt and move the job: delivered, dead, or pending again at
        ``next_attempt_at`` (outcome ``retry``). Releases the lease."""

    @abc.abstractmethod
    async def release(self, owner: str, job_ids: Collection[str], at: float | None = None) -> None:
        """Give leased jobs back unattempted: due again at once (shutdown), or at ``at``
        (a burst's notifications wait for its digest, relay.pipeline.storm)."""

    @abc.abstractmethod
    async def requeue(self, job_id: str, now: float, by: str | None = None) -> bool:
        """Move a dead job back to pending with a fresh retry window; False if not dead.
        ``by`` (who asked) is recorded in the job's actions as a ``retry``."""

    @abc.abstractmethod
    async def get_job(self, job_id: str) -> Job | None: ...

    @abc.abstractmethod
    async def list_jobs(
        self, status: JobStatus | None = None, limit: int = 100, receiver: str | None = None
    ) -> list[Job]:
        """Newest first."""

    @abc.abstractmethod
    async def job_counts(self) -> dict[str, int]:
        """Number of jobs per status (every status in JOB_STATUSES present)."""

    # -- the console ---------------------------------------------------------------------
    @abc.abstractmethod
    async def query_jobs(self, query: JobQuery) -> JobPage:
        """One page of the delivery log (:class:`JobQuery`). Its cost does not grow with
        the number of stored jobs (indexes and keyset, no offset)."""

    @abc.abstractmethod
    async def resend(self, job_id: str, new_id: str, now: float, by: str) -> Job | None:
        """A new pending job ``new_id`` with the notification of the delivered job
        ``job_id``; both record the action (``resend`` / ``resent_from``) by ``by``. None
        (nothing written) when ``job_id`` does not exist or is not delivered."""

    @abc.abstractmethod
    async def integration_stats(self, now: float) -> dict[str, IntegrationStats]:
        """Health counters of every integration that has any (an attempt in the last
        day, a queued or a dead job)."""

    @abc.abstractmethod
    async def list_groups(
        self, after: str | None, limit: int, receiver: str | None = None
    ) -> tuple[list[GroupState], str | None]:
        """Groups by key (ascending) after ``after``; the key to continue from, or None
        at the end. Like :meth:`query_jobs`, a page may be short and still continue."""

    @abc.abstractmethod
    async def keep_webhooks(self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int) -> None:
        """Keep ``webhooks`` (oldest first), in one write; then drop the oldest beyond
        ``keep`` webhooks or ``keep_bytes``."""

    @abc.abstractmethod
    async def recent_webhooks(self) -> list[KeptWebhook]:
        """The kept webhooks, newest first."""

    # -- retention ---------------------------------------------------------------------
    @abc.abstractmethod
    async def prune(self, now: float, job_retention: float, group_retention: float) -> int:
        """Delete delivered jobs finished before ``now - job_retention``, incidents that
        began before it, and groups with no alerts untouched since ``now -
        group_retention``; returns how many rows went."""

    # -- message references (Slack ts of a firing post, ...) ----------------------------
    @abc.abstractmethod
    async def get_ref(self, key: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None: ...

    # -- on call: schedule overrides made at run time ----------------------------------
    @abc.abstractmethod
    async def add_override(self, override: dict[str, Any]) -> None:
        """Keep an override (``id``, ``schedule``, ``person``, ``start``, ``end``,
        ``by``, ``created_at``, ...); ids are unique."""

    @abc.abstractmethod
    async def list_overrides(self, schedule: str | None = None) -> list[dict[str, Any]]:
        """The overrides (of ``schedule``, or all), oldest first."""

    @abc.abstractmethod
    async def delete_override(self, schedule: str, override_id: str) -> bool:
        """Remove one; False when ``schedule`` has no override of that id."""

    # -- incidents (relay.core.timeline): written with their group by apply() ------------
    @abc.abstractmethod
    async def list_incidents(self, since: float, limit: int) -> list[dict[str, Any]]:
        """Incidents that began at or after ``since``, newest first, at most ``limit``."""

    @abc.abstractmethod
    async def add_ref(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds unless a value that has not
        expired is there; True when this call stored it. Atomic across replicas: of two
        callers with the same key, one gets True (a request handled once, a replay
        refused)."""
