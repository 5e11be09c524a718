"""The job queue in SQLite: claiming under a lease, renewing, releasing, recording
attempts, storm merges; counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping

from relay.core.jobs import JOB_STATUSES, Attempt, Job, JobStatus, NewJob, attempt_effect
from relay.store.base import (
    ClaimRoom,
)
from relay.store.sqlite.common import (
    JOB_COLUMNS,
    chunks,
    claim,
    count_attempt,
    dumps,
    insert_jobs,
    job_of,
    placeholders,
)
from relay.store.sqlite.connection import SQLiteBase


class SQLiteJobs(SQLiteBase):
    # -- jobs --------------------------------------------------------------------------
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
        room = ClaimRoom(limit, frozenset(exclude_integrations), per_integration, held or {}).of
        return await self._call(lambda conn: claim(conn, owner, now, limit, lease, room))

    async def count_due(self, integration: str, now: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT count(*) FROM jobs WHERE status = 'pending' AND integration = ?"
                " AND next_attempt_at <= ?",
                (integration, now),
            ).fetchone()
            return int(row[0])

        return await self._call(op)

    async def claim_integration(
        self, owner: str, integration: str, now: float, limit: int, lease: float
    ) -> list[Job]:
        def room(name: str) -> int:
            return limit if name == integration else 0

        return await self._call(lambda conn: claim(conn, owner, now, limit, lease, room))

    async def merge_into_digest(
        self, owner: str, digest: NewJob, merged: Collection[str], now: float
    ) -> bool:
        ids = list(merged)
        attempt = Attempt(
            at=now,
            duration=0.0,
            outcome="delivered",
            reason="digest",
            detail=f"merged into digest {digest.id}",
        )
        marker = dumps(attempt.to_dict())

        def op(conn: sqlite3.Connection) -> bool:
            held = 0
            for chunk in chunks(ids, 500):
                held += conn.execute(
                    f"SELECT count(*) FROM jobs WHERE id IN ({placeholders(len(chunk))})"
                    " AND status = 'running' AND lease_owner = ?",
                    (*chunk, owner),
                ).fetchone()[0]
            if held != len(ids):
                return False
            for chunk in chunks(ids, 500):
                conn.execute(
                    "UPDATE jobs SET status = 'delivered', finished_at = ?, last_error = '',"
                    " digest_id = ?, lease_owner = NULL, lease_until = NULL,"
                    " attempts = json_insert(attempts, '$[#]', json(?))"
                    f" WHERE id IN ({placeholders(len(chunk))})",
                    (now, digest.id, marker, *chunk),
                )
            insert_jobs(conn, [digest])
            return True

        return await self._call(op)

    async def renew(self, owner: str, job_ids: Collection[str], until: float) -> None:
        ids = list(job_ids)
        if not ids:
            return
        await self._call(
            lambda conn: conn.execute(
                f"UPDATE jobs SET lease_until = ? WHERE id IN ({placeholders(len(ids))})"
                " AND status = 'running' AND lease_owner = ?",
                (until, *ids, owner),
            )
        )

    async def release(self, owner: str, job_ids: Collection[str], at: float | None = None) -> None:
        ids = list(job_ids)
        if not ids:
            return
        await self._call(
            lambda conn: conn.execute(
                "UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_until = NULL,"
                " next_attempt_at = COALESCE(?, next_attempt_at)"
                f" WHERE id IN ({placeholders(len(ids))}) AND status = 'running'"
                " AND lease_owner = ?",
                (at, *ids, owner),
            )
        )

    async def record_attempt(self, job: Job, attempt: Attempt, next_attempt_at: float | None = None) -> None:
        effect = attempt_effect(attempt, next_attempt_at)
        entry = dumps(attempt.to_dict())

        def op(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE jobs SET attempts = json_insert(attempts, '$[#]', json(?1)),"
                " last_error = CASE WHEN status = 'delivered' THEN last_error ELSE ?3 END,"
                " finished_at = CASE WHEN status = 'delivered' THEN finished_at ELSE ?4 END,"
                " next_attempt_at = CASE WHEN status = 'delivered' THEN next_attempt_at"
                " ELSE coalesce(?5, next_attempt_at) END,"
                " lease_owner = CASE WHEN status = 'delivered' THEN lease_owner ELSE NULL END,"
                " lease_until = CASE WHEN status = 'delivered' THEN lease_until ELSE NULL END,"
                " status = CASE WHEN status = 'delivered' THEN status ELSE ?2 END"
                " WHERE id = ?6",
                (entry, effect.status, effect.last_error, effect.finished_at, effect.next_attempt_at, job.id),
            )
            if cursor.rowcount:
                count_attempt(conn, job.integration, attempt)

        await self._call(op)

    async def requeue(self, job_id: str, now: float, by: str | None = None) -> bool:
        # The dispatcher restarts its retry window at the latest "requeued" attempt.
        marker = dumps(Attempt(at=now, duration=0.0, outcome="retry", reason="requeued").to_dict())
        action = dumps({"action": "retry", "by": by, "at": now}) if by is not None else None

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE jobs SET status = 'pending', next_attempt_at = ?, finished_at = NULL,"
                " attempts = json_insert(attempts, '$[#]', json(?)),"
                " actions = CASE WHEN ? IS NULL THEN actions"
                " ELSE json_insert(actions, '$[#]', json(?)) END"
                " WHERE id = ? AND status = 'dead'",
                (now, marker, action, action, job_id),
            )
            return cursor.rowcount == 1

        return await self._call(op)

    async def list_jobs(
        self, status: JobStatus | None = None, limit: int = 100, receiver: str | None = None
    ) -> list[Job]:
        def op(conn: sqlite3.Connection) -> list[Job]:
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs"
                " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR receiver = ?2)"
                " ORDER BY created_at DESC, rowid DESC LIMIT ?3",
                (status, receiver, limit),
            )
            return [job_of(row) for row in rows]

        return await self._call(op)

    async def job_counts(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            counts: dict[str, int] = dict.fromkeys(JOB_STATUSES, 0)
            # The trigger-kept counters (a few rows per integration), not a count of jobs.
            for status, n in conn.execute("SELECT status, sum(n) FROM job_counts GROUP BY status"):
                counts[status] = n
            return counts

        return await self._call(op)
