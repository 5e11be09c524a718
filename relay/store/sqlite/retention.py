"""Pruning old jobs and quiet groups in SQLite, and message references."""

from __future__ import annotations

import sqlite3
from typing import Any, cast

import orjson

from relay.store.base import (
    STATS_KEEP,
)
from relay.store.sqlite.common import dumps, give_back_free_pages
from relay.store.sqlite.connection import SQLiteBase


class SQLiteRetention(SQLiteBase):
    # -- retention ---------------------------------------------------------------------
    async def prune(self, now: float, job_retention: float, group_retention: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            jobs = conn.execute(
                "DELETE FROM jobs WHERE status = 'delivered' AND finished_at < ?",
                (now - job_retention,),
            )
            # A group with no firing alert (none left, or all resolved: Alertmanager's
            # pass-through groups keep their resolved alerts), no notification still to
            # deliver, and no change for group_retention is forgotten; if its alerts fire
            # again they are new and notify again.
            quiet = (
                "FROM groups WHERE firing_count = 0 AND updated_at < ?"
                " AND key NOT IN (SELECT group_key FROM jobs WHERE status IN ('pending', 'running'))"
            )
            # The keys first, in the same transaction, so the committed states kept in
            # memory lose exactly these (and stay a complete picture of the file).
            forgotten.extend(key for (key,) in conn.execute(f"SELECT key {quiet}", (now - group_retention,)))
            groups = conn.execute(f"DELETE {quiet}", (now - group_retention,))
            refs = conn.execute("DELETE FROM refs WHERE expires_at <= ?", (now,))
            # An override is history once it ended: kept as long as a quiet group is.
            conn.execute("DELETE FROM oncall_overrides WHERE ends_at < ?", (now - group_retention,))
            incidents = conn.execute("DELETE FROM incidents WHERE started_at < ?", (now - job_retention,))
            conn.execute("DELETE FROM integration_stats WHERE bucket < ?", (now - STATS_KEEP,))
            give_back_free_pages(conn)
            return jobs.rowcount + groups.rowcount + refs.rowcount + incidents.rowcount

        forgotten: list[str] = []
        try:
            count = await self._call(op)
        except BaseException:
            self._committed_groups.clear()  # groups may be gone: read them from the file
            self._groups_complete = False
            raise
        for key in forgotten:
            self._committed_groups.pop(key, None)
        return count

    # -- message references ------------------------------------------------------------
    async def get_ref(self, key: str) -> dict[str, Any] | None:
        now = self.clock()

        def op(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT value FROM refs WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
            return cast(dict[str, Any], orjson.loads(row[0])) if row is not None else None

        return await self._call(op)

    async def add_ref(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        encoded, now = dumps(value), self.clock()

        def op(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM refs WHERE key = ? AND expires_at <= ?", (key, now))
            added = conn.execute(
                "INSERT OR IGNORE INTO refs (key, value, expires_at) VALUES (?, ?, ?)",
                (key, encoded, now + ttl),
            )
            return added.rowcount == 1

        return await self._call(op)

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None:
        encoded, expires_at = dumps(value), self.clock() + ttl
        await self._call(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO refs (key, value, expires_at) VALUES (?, ?, ?)",
                (key, encoded, expires_at),
            )
        )
