"""Group state in SQLite: transitions applied in the writer's transaction, and the
groups whose timer is due."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.store.sqlite.common import apply_one, load_group
from relay.store.sqlite.connection import SQLiteBase


class SQLiteGroups(SQLiteBase):
    # -- groups ------------------------------------------------------------------------
    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        if not updates:
            return []
        updates = list(updates)
        return await self._call(lambda conn: [apply_one(conn, u) for u in updates])

    async def due_groups(self, now: float, limit: int = 100) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT key FROM groups WHERE next_flush_at IS NOT NULL AND next_flush_at <= ?"
                " ORDER BY next_flush_at LIMIT ?",
                (now, limit),
            )
            return [row[0] for row in rows]

        return await self._call(op)

    async def get_group(self, key: str) -> GroupState | None:
        return await self._call(lambda conn: load_group(conn, key))
