"""On-call overrides made at run time, and incidents for statistics, in SQLite."""

from __future__ import annotations

import sqlite3
from typing import Any, cast

import orjson

from relay.store.sqlite.common import dumps
from relay.store.sqlite.connection import SQLiteBase


class SQLiteOnCall(SQLiteBase):
    async def add_override(self, override: dict[str, Any]) -> None:
        row = (
            str(override["id"]),
            str(override["schedule"]),
            float(override["end"]),
            float(override["created_at"]),
            dumps(override),
        )
        await self._call(
            lambda conn: conn.execute(
                "INSERT INTO oncall_overrides (id, schedule, ends_at, created_at, value)"
                " VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )

    async def list_overrides(self, schedule: str | None = None) -> list[dict[str, Any]]:
        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            if schedule is None:
                rows = conn.execute("SELECT value FROM oncall_overrides ORDER BY created_at, id").fetchall()
            else:
                rows = conn.execute(
                    "SELECT value FROM oncall_overrides WHERE schedule = ? ORDER BY created_at, id",
                    (schedule,),
                ).fetchall()
            return [cast(dict[str, Any], orjson.loads(row[0])) for row in rows]

        return await self._call(op)

    async def delete_override(self, schedule: str, override_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            gone = conn.execute(
                "DELETE FROM oncall_overrides WHERE schedule = ? AND id = ?", (schedule, override_id)
            )
            return gone.rowcount == 1

        return await self._call(op)

    async def list_incidents(self, since: float, limit: int) -> list[dict[str, Any]]:
        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT value FROM incidents WHERE started_at >= ? ORDER BY started_at DESC LIMIT ?",
                (since, limit),
            ).fetchall()
            return [cast(dict[str, Any], orjson.loads(row[0])) for row in rows]

        return await self._call(op)
