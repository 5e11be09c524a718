"""What every part of the Redis backend shares: the layout's version and limits, and
how numbers, jobs and plans are written to and read from Redis."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from redis.exceptions import AuthenticationError, AuthorizationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from relay.core.groups import GroupState, TransitionResult
from relay.core.jobs import Attempt, Job, JobStatus, NewJob

# 2: groups:resolved replaces groups:empty (all-resolved groups are pruned)
# 3: the console's indexes (jobs:integration|group|alertname, retrying, open, dead,
#    groups:all) and counters; jobs' digest_id (merged into a storm digest)
SCHEMA_VERSION = 3
UNFINISHED_JOBS_SCAN_LIMIT = 10_000  # prune checks groups against at most this many open jobs
CONSUMER_GROUP = "relay"
# How long apply() keeps retrying when other writers keep changing the same groups.
CONTENTION_LIMIT = 5.0
PRUNE_BATCH = 500
# The delivery log reads its index in batches of LOG_BATCH and at most LOG_SCAN_LIMIT
# entries per page (filters checked job by job; docs/architecture.md).
LOG_BATCH = 200
LOG_SCAN_LIMIT = 5000  # keys deleted per script run, so pruning never blocks Redis for long
LOCK_STRIPES = 64


def num(value: float) -> str:
    """A float as Redis should store it: repr() round-trips exactly."""
    return repr(float(value))


def job_of(fields: dict[str, str]) -> Job:
    finished = fields.get("finished_at", "")
    return Job(
        id=fields["id"],
        receiver=fields["receiver"],
        integration=fields["integration"],
        group_key=fields["group_key"],
        payload=orjson.loads(fields["payload"]),
        status=cast(JobStatus, fields["status"]),
        created_at=float(fields["created_at"]),
        next_attempt_at=float(fields["next_attempt_at"]),
        attempts=[Attempt.from_dict(a) for a in orjson.loads(fields.get("attempts", "[]"))],
        last_error=fields.get("last_error", ""),
        finished_at=float(finished) if finished else None,
        handle=fields.get("owner", ""),
        digest_id=fields.get("digest_id") or None,
        actions=orjson.loads(fields.get("actions") or "[]"),
    )


def pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


@dataclass
class Plan:
    """What one run of the transitions wants to commit."""

    results: list[TransitionResult] = field(default_factory=list)
    states: dict[str, GroupState | None] = field(default_factory=dict)  # key -> final state
    jobs: list[NewJob] = field(default_factory=list)
    # Incidents that changed (relay.core.timeline): their id -> the incident.
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return bool(self.states or self.jobs)


def fixable_by_waiting(exc: BaseException | None) -> bool:
    """A refused or timed-out connection (Redis down), not a wrong password or certificate."""
    if isinstance(exc, AuthenticationError | AuthorizationError) or not isinstance(
        exc, RedisConnectionError | RedisTimeoutError
    ):
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return False
        seen = seen.__cause__ or seen.__context__
    return True
