"""Jobs: one notification (or digest) to deliver through one integration, its attempts,
and where it is in its life (pending, running, delivered, dead)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from relay.core.digests import digest_summary

JobStatus = Literal["pending", "running", "delivered", "dead"]
JOB_STATUSES: tuple[JobStatus, ...] = ("pending", "running", "delivered", "dead")
# What the delivery log filters on: a job status, or "retrying" (pending with at least
# one attempt behind it).
LogStatus = Literal["pending", "retrying", "running", "delivered", "dead"]
LOG_STATUSES: tuple[LogStatus, ...] = ("pending", "retrying", "running", "delivered", "dead")

#: How much of the message as sent one attempt keeps (UTF-8 bytes, every part together).
SENT_LIMIT = 256 * 1024


def new_job_id() -> str:
    """A unique, URL-safe job id; also the Idempotency-Key and the Message-ID seed.

    32 hex digits: the creation time in milliseconds (12), then 80 random bits (20):
    two ids made in the same millisecond collide once in about 10^24 pairs.
    Ids made one after another sort together, so each store index keyed by id grows at
    its end instead of at random pages (SQLite: 63 → 45 µs per job inserted at 20,000
    jobs, and more as the table grows).
    """
    return f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}{_random_hex()}"


#: Random parts (20 hex digits) read from the OS in bulk. os.urandom lets the interpreter
#: go while it waits for the kernel; on the event loop, with the SQLite writer thread
#: waiting for the interpreter, each call handed it over and waited to get it back, for
#: 10 bytes. Taken with list.pop, which no two threads can get the same item from.
_RANDOM_PARTS: list[str] = []
RANDOM_PARTS_PER_READ = 256


def _random_hex() -> str:
    try:
        return _RANDOM_PARTS.pop()
    except IndexError:
        raw = os.urandom(10 * RANDOM_PARTS_PER_READ).hex()
        _RANDOM_PARTS.extend(raw[i : i + 20] for i in range(0, len(raw), 20))
        return _RANDOM_PARTS.pop()


# A forked child must not hand out the parts its parent had read and will hand out too.
os.register_at_fork(after_in_child=_RANDOM_PARTS.clear)


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
        left_out = len(encoded) - room + sum(len(p.encode("utf-8")) for p in parts[index + 1 :])
        cut = encoded[:room].decode("utf-8", "ignore")
        if cut:
            kept.append(cut)
        kept.append(
            f"[truncated: {left_out} more bytes in {len(parts) - index} part(s) "
            f"were sent; relay keeps {limit} bytes per attempt]"
        )
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
class NewJob:
    """A notification to deliver through one integration, created by a transition."""

    id: str
    receiver: str
    integration: str  # "<receiver>/<type>/<index>", e.g. "oncall/slack/0"
    group_key: str  # the store key of the group it came from
    payload: dict[str, Any]  # a relay.core.alerts.Notification as JSON
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

    def in_log_status(self, status: LogStatus) -> bool:
        """Whether the delivery log lists this job under ``status``: its own status, or
        "retrying" (also "pending"). SQLite writes the same rule in SQL (LOG_COLUMNS)."""
        return self.retrying if status == "retrying" else self.status == status

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
            "digest": digest_summary(digest) if isinstance(digest, dict) else None,
            "alertnames": alertnames_of(self.payload),
            "actions": self.actions,
        }


@dataclass(frozen=True)
class AttemptEffect:
    """What one attempt makes of a job that was not delivered yet."""

    status: JobStatus  # delivered, dead, or pending again
    last_error: str
    finished_at: float | None
    next_attempt_at: float | None  # pending again: when it is due; otherwise unchanged


def attempt_effect(attempt: Attempt, next_attempt_at: float | None = None) -> AttemptEffect:
    """The job lifecycle rule, in one place. Delivered ends the job without an error;
    dead ends it with the attempt's error; a retry makes it pending again, due at
    ``next_attempt_at`` (the attempt's time when None). A job another worker delivered
    first stays delivered whatever a late attempt says: each store checks that within
    its own atomic step (a transaction, a Lua script) and then applies this effect."""
    error = attempt.error or attempt.reason
    if attempt.outcome == "delivered":
        return AttemptEffect("delivered", "", attempt.at, None)
    if attempt.outcome == "dead":
        return AttemptEffect("dead", error, attempt.at, None)
    due = attempt.at if next_attempt_at is None else next_attempt_at
    return AttemptEffect("pending", error, None, due)
