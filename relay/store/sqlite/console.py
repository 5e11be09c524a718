"""What the console reads in SQLite: the delivery log by keyset over one index per
filter, integration health counters, groups, kept webhooks; resend."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from relay.core.groups import GroupState
from relay.core.jobs import Job
from relay.store.base import (
    IntegrationStats,
    JobPage,
    JobQuery,
    KeptWebhook,
    hour_and_day_buckets,
)
from relay.store.sqlite.common import JOB_COLUMNS, dumps, insert_alertnames, job_of, log_query
from relay.store.sqlite.connection import SQLiteBase


class SQLiteConsole(SQLiteBase):
    # -- the console -------------------------------------------------------------------
    async def query_jobs(self, query: JobQuery) -> JobPage:
        sql, args = log_query(query)

        def op(conn: sqlite3.Connection) -> JobPage:
            rows = conn.execute(sql, args).fetchall()
            jobs = [job_of(row) for row in rows[: query.limit]]
            more = len(rows) > query.limit
            return JobPage(jobs, (jobs[-1].created_at, jobs[-1].id) if more and jobs else None)

        return await self._call(op)

    async def resend(self, job_id: str, new_id: str, now: float, by: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[5] != "delivered":
                return None
            original = job_of(row)
            conn.execute(
                "INSERT INTO jobs (id, receiver, integration, group_key, payload, status,"
                " created_at, next_attempt_at, actions) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (
                    new_id,
                    original.receiver,
                    original.integration,
                    original.group_key,
                    row[4],
                    now,
                    now,
                    dumps([{"action": "resent_from", "by": by, "at": now, "job": job_id}]),
                ),
            )
            insert_alertnames(conn, [(new_id, now, original.payload)])
            conn.execute(
                "UPDATE jobs SET actions = json_insert(actions, '$[#]', json(?)) WHERE id = ?",
                (dumps({"action": "resend", "by": by, "at": now, "job": new_id}), job_id),
            )
            found = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (new_id,))
            return job_of(found.fetchone())

        return await self._call(op)

    async def integration_stats(self, now: float) -> dict[str, IntegrationStats]:
        hour, day = hour_and_day_buckets(now)

        def op(conn: sqlite3.Connection) -> dict[str, IntegrationStats]:
            stats: dict[str, IntegrationStats] = {}
            for integration, bucket, delivered, failed in conn.execute(
                "SELECT integration, bucket, delivered, failed FROM integration_stats WHERE bucket >= ?",
                (day,),
            ):
                entry = stats.setdefault(integration, IntegrationStats())
                entry.day_delivered += delivered
                entry.day_failed += failed
                if bucket >= hour:
                    entry.hour_delivered += delivered
                    entry.hour_failed += failed
            for integration, at, outcome, reason, error in conn.execute(
                "SELECT integration, at, outcome, reason, error FROM integration_last"
            ):
                entry = stats.setdefault(integration, IntegrationStats())
                entry.last_at, entry.last_outcome = at, outcome
                entry.last_reason, entry.last_error = reason, error
            for integration, status, n in conn.execute(
                "SELECT integration, status, n FROM job_counts WHERE n > 0"
                " AND status IN ('pending', 'running', 'dead')"
            ):
                entry = stats.setdefault(integration, IntegrationStats())
                if status == "dead":
                    entry.dead = n
                    continue
                entry.queue += n
                oldest = conn.execute(
                    "SELECT min(created_at) FROM jobs WHERE status = ? AND integration = ?",
                    (status, integration),
                ).fetchone()[0]
                if oldest is not None and (entry.oldest_queued_at is None or oldest < entry.oldest_queued_at):
                    entry.oldest_queued_at = oldest
            return stats

        return await self._call(op)

    async def list_groups(
        self, after: str | None, limit: int, receiver: str | None = None
    ) -> tuple[list[GroupState], str | None]:
        def op(conn: sqlite3.Connection) -> tuple[list[GroupState], str | None]:
            rows = conn.execute(
                "SELECT key, state FROM groups WHERE (?1 IS NULL OR receiver = ?1)"
                " AND (?2 IS NULL OR key > ?2) ORDER BY key LIMIT ?3",
                (receiver, after, limit + 1),
            ).fetchall()
            groups = [GroupState.from_dict(orjson.loads(row[1])) for row in rows[:limit]]
            return groups, (rows[limit - 1][0] if len(rows) > limit and limit > 0 else None)

        return await self._call(op)

    async def keep_webhooks(self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int) -> None:
        def op(conn: sqlite3.Connection) -> None:
            for webhook in webhooks:
                size = len(webhook.body.encode("utf-8"))
                if keep > 0 and size <= keep_bytes:
                    conn.execute(
                        "INSERT INTO webhooks (id, received_at, receiver, body, bytes)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (webhook.id, webhook.received_at, webhook.receiver, webhook.body, size),
                    )
            # Newest first: the first that crosses either bound and every older one go.
            kept = total = 0
            for seq, n in conn.execute("SELECT seq, bytes FROM webhooks ORDER BY seq DESC"):
                kept, total = kept + 1, total + n
                if kept > keep or total > keep_bytes:
                    conn.execute("DELETE FROM webhooks WHERE seq <= ?", (seq,))
                    break

        await self._call(op)

    async def recent_webhooks(self) -> list[KeptWebhook]:
        def op(conn: sqlite3.Connection) -> list[KeptWebhook]:
            rows = conn.execute("SELECT id, received_at, receiver, body FROM webhooks ORDER BY seq DESC")
            return [KeptWebhook(*row) for row in rows]

        return await self._call(op)
