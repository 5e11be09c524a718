"""The store as each caller sees it: one protocol per role, holding only the methods
that caller uses (both backends provide every role; relay.store.base.Store is all of
them with the lifecycle). A caller that takes a role cannot reach past it, and a test
double implements a handful of methods, not the whole store.

Message refs (a notifier's memory between attempts) are declared by their caller,
relay.channels.base.MessageRefs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import Attempt, Job, NewJob
from relay.store.base import IntegrationStats, JobPage, JobQuery, KeptWebhook


class GroupStore(Protocol):
    """Group state, for ingest and the flush stage: transitions applied atomically, and the
    groups whose timer is due."""

    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]: ...

    async def due_groups(self, now: float, limit: int = 100) -> list[str]: ...

    async def get_group(self, key: str) -> GroupState | None: ...


class JobQueue(Protocol):
    """Jobs for the dispatcher: claimed under a lease, renewed, released, and each attempt
    recorded with what it decided."""

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
    ) -> list[Job]: ...

    async def renew(self, owner: str, job_ids: Collection[str], until: float) -> None: ...

    async def record_attempt(
        self, job: Job, attempt: Attempt, next_attempt_at: float | None = None
    ) -> None: ...

    async def release(self, owner: str, job_ids: Collection[str], at: float | None = None) -> None: ...

    async def ping(self) -> None: ...


class StormQueue(Protocol):
    """What storm merging needs: how many jobs of an integration are due, claiming its
    backlog, replacing it with one digest job, and giving a burst's jobs back until its
    digest is due."""

    async def count_due(self, integration: str, now: float) -> int: ...

    async def claim_integration(
        self, owner: str, integration: str, now: float, limit: int, lease: float
    ) -> list[Job]: ...

    async def merge_into_digest(
        self, owner: str, digest: NewJob, merged: Collection[str], now: float
    ) -> bool: ...

    async def release(self, owner: str, job_ids: Collection[str], at: float | None = None) -> None: ...


class DeliveryLog(Protocol):
    """The delivery log and group views, for the console and the API: reading jobs and
    groups, counters, and an operator's retry or resend."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def query_jobs(self, query: JobQuery) -> JobPage: ...

    async def job_counts(self) -> dict[str, int]: ...

    async def integration_stats(self, now: float) -> dict[str, IntegrationStats]: ...

    async def list_groups(
        self, after: str | None, limit: int, receiver: str | None = None
    ) -> tuple[list[GroupState], str | None]: ...

    async def get_group(self, key: str) -> GroupState | None: ...

    async def requeue(self, job_id: str, now: float, by: str | None = None) -> bool: ...

    async def resend(self, job_id: str, new_id: str, now: float, by: str) -> Job | None: ...

    def describe(self) -> str: ...


class DispatchStore(JobQueue, StormQueue, Protocol):
    """The dispatcher's store: its own queue, and what it hands its storm merger."""


class HeartbeatStore(GroupStore, Protocol):
    """Heartbeats (relay.pipeline.heartbeats): the last beat and when one was first
    expected, as refs every replica reads, and the missing-heartbeat groups."""

    async def get_ref(self, key: str) -> dict[str, Any] | None: ...

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None: ...

    async def add_ref(self, key: str, value: dict[str, Any], ttl: float) -> bool: ...


class WebhookArchive(Protocol):
    """The last webhooks received, kept for the console's playground."""

    async def keep_webhooks(self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int) -> None: ...

    async def recent_webhooks(self) -> list[KeptWebhook]: ...
