"""The store interface every backend implements (SQLite for one process, Redis for HA).

The pipeline only ever talks to :class:`Store`. Group changes are expressed as pure
*transitions* (old state -> new state + jobs) so that each backend can apply them
atomically in its own way: SQLite in one transaction, Redis with optimistic
WATCH/MULTI retries. A transition may therefore run more than once and must have no
side effects.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

JobStatus = Literal["pending", "running", "delivered", "dead"]
JOB_STATUSES: tuple[JobStatus, ...] = ("pending", "running", "delivered", "dead")
# What the delivery log filters on: a job status, or "retrying" (pending with at least
# one attempt behind it).
LogStatus = Literal["pending", "retrying", "running", "delivered", "dead"]
LOG_STATUSES: tuple[LogStatus, ...] = ("pending", "retrying", "running", "delivered", "dead")

#: How much of the message as sent one attempt keeps (UTF-8 bytes, every part together).
SENT_LIMIT = 256 * 1024
#: The unit of the per-integration delivery counters (seconds): the last hour is the
#: last 12 buckets, the last day the last 288.
STATS_BUCKET = 300
STATS_KEEP = 86400 + 2 * STATS_BUCKET  # counters older than a day and a bucket go


def new_job_id() -> str:
    """A unique, URL-safe job id; also the Idempotency-Key and the Message-ID seed."""
    return uuid.uuid4().hex


def bound_sent(parts: Sequence[str], limit: int = SENT_LIMIT) -> list[str]:
    """``parts`` as kept with an attempt: whole while they fit in ``limit`` UTF-8 bytes;
    the part that crosses it is cut, and a note says how much was left out."""
    kept: list[str] = []
    room = limit
    for index, part in enumerate(parts):
        encoded = part.encode("utf-8")
        if len(encoded) <= room:
            kept.append(part)
            room -= len(encoded)
            continue
        left_out = len(encoded) - room + sum(len(p.encode("utf-8")) for p in parts[index + 1:])
        cut = encoded[:room].decode("utf-8", "ignore")
        if cut:
            kept.append(cut)
        kept.append(f"[truncated: {left_out} more bytes in {len(parts) - index} part(s) "
                    f"were sent; relay keeps {limit} bytes per attempt]")
        break
    return kept


def alertnames_of(payload: Mapping[str, Any]) -> list[str]:
    """The distinct ``alertname`` labels of a stored notification's alerts, sorted."""
    names = {
        str(alert.get("labels", {}).get("alertname", ""))
        for alert in payload.get("alerts", [])
        if isinstance(alert, dict)
    }
    names.discard("")
    return sorted(names)


@dataclass
class LogEntry:
    """Alertmanager's notification-log entry for one integration of one group."""

    firing: list[str]  # fingerprints last notified as firing
    resolved: list[str]  # fingerprints last notified as resolved
    at: float  # when that notification was enqueued (unix seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"firing": self.firing, "resolved": self.resolved, "at": self.at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogEntry:
        return cls(list(data["firing"]), list(data["resolved"]), float(data["at"]))


@dataclass
class GroupState:
    """One (receiver, group) pair: its current alerts, its timers and its notification log.

    ``alerts`` maps fingerprint -> the alert as JSON (a v4 alert dict). ``next_flush_at``
    is None for groups passed through from Alertmanager (they flush on arrival).
    """

    key: str
    receiver: str
    route_id: str
    labels: dict[str, str]
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: dict[str, LogEntry] = field(default_factory=dict)  # integration id -> entry
    next_flush_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)  # external url, truncated count, ...
    # Someone acknowledged the group ({"by", "at", "firing": fingerprints}): its repeat
    # notifications stop while exactly those alerts fire (relay.grouping.decide).
    ack: dict[str, Any] | None = None
    # hold_time_intervals: integration id -> a relay.hold.HeldEntry as JSON, and when
    # the hold window in force ends (the group's timer fires then to release them).
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    held_until: float | None = None

    def firing_count(self) -> int:
        """Alerts still firing; a group with none (all resolved, or no alerts) can be pruned."""
        return sum(1 for alert in self.alerts.values() if alert.get("status") == "firing")

    def kept_count(self) -> int:
        """What keeps the group from being pruned: firing alerts and held notifications
        (a hold window may outlast storage.group_retention)."""
        return self.firing_count() + len(self.held)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "receiver": self.receiver,
            "route_id": self.route_id,
            "labels": self.labels,
            "alerts": self.alerts,
            "log": {k: v.to_dict() for k, v in self.log.items()},
            "next_flush_at": self.next_flush_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "meta": self.meta,
            "ack": self.ack,
            "held": self.held,
            "held_until": self.held_until,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupState:
        return cls(
            key=data["key"],
            receiver=data["receiver"],
            route_id=data["route_id"],
            labels=dict(data["labels"]),
            alerts=dict(data["alerts"]),
            log={k: LogEntry.from_dict(v) for k, v in data["log"].items()},
            next_flush_at=data["next_flush_at"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            meta=dict(data.get("meta", {})),
            ack=data.get("ack"),
            held=dict(data.get("held", {})),
            held_until=data.get("held_until"),
        )


@dataclass
class NewJob:
    """A notification to deliver through one integration, created by a transition."""

    id: str
    receiver: str
    integration: str  # "<receiver>/<type>/<index>", e.g. "oncall/slack/0"
    group_key: str  # the store key of the group it came from
    payload: dict[str, Any]  # a relay.models.Notification as JSON
    created_at: float


@dataclass
class Attempt:
    """One delivery attempt, kept with its job."""

    at: float
    duration: float
    outcome: Literal["delivered", "retry", "dead"]
    reason: str = ""  # short metric-label reason ("http_503", "timeout", "ok")
    error: str = ""  # the downstream's own message, secrets redacted
    detail: str = ""  # e.g. recipients refused on partial SMTP success
    # Each part exactly as sent (a JSON body as posted, a mail as composed), secrets
    # redacted, bounded by SENT_LIMIT (bound_sent).
    sent: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "duration": self.duration,
            "outcome": self.outcome,
            "reason": self.reason,
            "error": self.error,
            "detail": self.detail,
            "sent": self.sent,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            at=data["at"],
            duration=data["duration"],
            outcome=data["outcome"],
            reason=data.get("reason", ""),
            error=data.get("error", ""),
            detail=data.get("detail", ""),
            sent=list(data.get("sent", [])),
        )


@dataclass
class Job:
    """A job as stored: its notification, where it is in its life, and every attempt."""

    id: str
    receiver: str
    integration: str
    group_key: str
    payload: dict[str, Any]
    status: JobStatus
    created_at: float
    next_attempt_at: float
    attempts: list[Attempt] = field(default_factory=list)
    last_error: str = ""
    finished_at: float | None = None  # delivered or dead-lettered at
    # Backend bookkeeping (a Redis stream entry id, a lease owner); opaque to the pipeline.
    handle: str = ""
    #: Set when this notification went out merged into a storm digest: that digest's job.
    digest_id: str | None = None
    # What operators did to it: {"action": "retry"|"resend"|"resent_from", "by", "at",
    # "job" (the other job of a resend)}, oldest first.
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def retrying(self) -> bool:
        """Pending again after at least one attempt (LogStatus "retrying")."""
        return self.status == "pending" and bool(self.attempts)

    def to_api(self) -> dict[str, Any]:
        digest = self.payload.get("digest")
        return {
            "id": self.id,
            "receiver": self.receiver,
            "integration": self.integration,
            "group_key": self.group_key,
            "status": self.status,
            "retrying": self.retrying,
            "created_at": self.created_at,
            "next_attempt_at": self.next_attempt_at if self.status == "pending" else None,
            "finished_at": self.finished_at,
            "attempts": [a.to_dict() for a in self.attempts],
            "last_error": self.last_error,
            "alerts": len(self.payload.get("alerts", [])),
            "status_of_group": self.payload.get("status"),
            "digest_id": self.digest_id,
            "digest": _digest_summary(digest) if isinstance(digest, dict) else None,
            "alertnames": alertnames_of(self.payload),
            "actions": self.actions,
        }


def _digest_summary(data: dict[str, Any]) -> dict[str, Any]:
    """What the job API says of a digest job: its kind, totals and the merged jobs."""
    entries = data.get("entries", [])
    return {
        "kind": data.get("kind"),
        "groups": len(entries),
        "firing": sum(int(e.get("firing", 0)) for e in entries),
        "resolved": sum(int(e.get("resolved", 0)) for e in entries),
        "jobs": [job for e in entries for job in e.get("job_ids", [])],
    }


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
        return {"id": self.id, "received_at": self.received_at, "receiver": self.receiver,
                "bytes": len(self.body.encode("utf-8"))}


def stats_bucket(at: float) -> int:
    """The counter bucket an attempt at ``at`` falls in (its start, unix seconds)."""
    return int(at // STATS_BUCKET) * STATS_BUCKET


def hour_and_day_buckets(now: float) -> tuple[int, int]:
    """The first bucket of the last hour and of the last day, the current one included."""
    current = stats_bucket(now)
    return current - (3600 // STATS_BUCKET - 1) * STATS_BUCKET, \
        current - (86400 // STATS_BUCKET - 1) * STATS_BUCKET


@dataclass(frozen=True)
class Suppressed:
    """A notification dedup decided not to send, and why (answered to the webhook)."""

    receiver: str
    integration: str  # "<receiver>/<type>/<index>"
    # duplicate | resolved_not_sent | inactive | muted | held; the metric's reason label
    reason: str
    last_sent: float | None  # the notification-log entry's time, None without one

    def to_api(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "integration": self.integration,
                "reason": self.reason, "last_sent": self.last_sent}


@dataclass
class TransitionResult:
    """What a transition returns: the new state (None deletes the group) and new jobs.

    ``changed=False`` says the state is exactly what is already stored (an HA pair's
    second webhook, an Alertmanager re-send): the backend may skip writing it. Jobs
    are written whatever ``changed`` says.
    """

    state: GroupState | None
    jobs: list[NewJob] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    changed: bool = True


# A function of the current state (None when the group does not exist yet). The state
# it receives is its own: a fresh copy loaded for this call, which it may modify and
# return. It has no other side effects, because a backend may call it more than once.
Transition = Callable[[GroupState | None], TransitionResult]


@dataclass
class GroupUpdate:
    key: str
    transition: Transition


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
        return max(0, min(self.unlisted, self.limit if self.per_integration is None
                          else self.per_integration - self.held.get(integration, 0)))

    @property
    def unlisted(self) -> int:
        """The room of an integration neither excluded nor held."""
        return self.limit if self.per_integration is None else min(self.limit, self.per_integration)

    def listed(self) -> dict[str, int]:
        """The room of every integration excluded or held (the others have ``unlisted``)."""
        return {name: self.of(name) for name in sorted({*self.exclude, *self.held})}


class Store(abc.ABC):
    """Durable state shared by ingest, the group flusher and the dispatcher.

    Every method may raise :class:`relay.errors.StoreUnavailable` when the backend
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

    # Storm digests (relay.storm). Both backends implement these; the defaults are a
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
    async def record_attempt(
        self, job: Job, attempt: Attempt, next_attempt_at: float | None = None
    ) -> None:
        """Record an attempt and move the job: delivered, dead, or pending again at
        ``next_attempt_at`` (outcome ``retry``). Releases the lease."""

    @abc.abstractmethod
    async def release(self, owner: str, job_ids: Collection[str]) -> None:
        """Give leased jobs back unattempted (shutdown): they are due again at once."""

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
    async def keep_webhooks(
        self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int
    ) -> None:
        """Keep ``webhooks`` (oldest first), in one write; then drop the oldest beyond
        ``keep`` webhooks or ``keep_bytes``."""

    @abc.abstractmethod
    async def recent_webhooks(self) -> list[KeptWebhook]:
        """The kept webhooks, newest first."""

    # -- retention ---------------------------------------------------------------------
    @abc.abstractmethod
    async def prune(self, now: float, job_retention: float, group_retention: float) -> int:
        """Delete delivered jobs finished before ``now - job_retention`` and groups with no
        alerts untouched since ``now - group_retention``; returns how many rows went."""

    # -- message references (Slack ts of a firing post, ...) ----------------------------
    @abc.abstractmethod
    async def get_ref(self, key: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None: ...
