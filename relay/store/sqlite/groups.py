"""Group state in SQLite: transitions applied in the writer's transaction, and the
groups whose timer is due."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.store.sqlite.common import apply_one, group_of_text, load_group
from relay.store.sqlite.connection import SQLiteBase

#: Groups whose committed state is kept in memory for the unchanged-webhook path.
COMMITTED_GROUPS_KEPT = 10_000


class SQLiteGroups(SQLiteBase):
    # -- groups ------------------------------------------------------------------------
    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        if not updates:
            return []
        updates = list(updates)
        unchanged = self._unchanged(updates)
        if unchanged is not None:
            return unchanged
        known = self._committed_groups
        for update in updates:  # until this commits, the writer's copy is the only one
            known.pop(update.key, None)
        try:
            applied = await self._call(lambda conn: [apply_one(conn, u) for u in updates])
        except StoreUnavailable:
            known.clear()  # what committed is uncertain: read it again from the file
            raise
        for update, (_, stored) in zip(updates, applied, strict=True):
            if stored is not None:
                known[update.key] = stored
                known.move_to_end(update.key)
        while len(known) > COMMITTED_GROUPS_KEPT:
            known.popitem(last=False)
        return [result for result, _ in applied]

    def _unchanged(self, updates: list[GroupUpdate]) -> list[TransitionResult] | None:
        """The results, when every update's transition, tried on a copy of the state last
        committed, changes nothing and makes no job: an HA pair's second webhook and
        Alertmanager's re-sends, most of ingest. There is nothing to write, so the
        writer (its thread hop, transaction and read) is skipped. Else None: the writer
        applies them all to the file's state.

        Equivalent to the writer's path: this process is the file's only writer, every
        committed group change goes through apply() (which records it here, in commit
        order, before its caller resumes) and prune() forgets them all; a webhook decided
        here while a change of its group is being committed is ordered before that change,
        as it would be had it reached the writer first. tests/store/test_sqlite_unchanged.py
        compares the two paths over random sequences."""
        known = self._committed_groups
        results: list[TransitionResult] = []
        for update in updates:
            stored = known.get(update.key) if update.pure else None
            if stored is None:
                return None
            result = update.transition(group_of_text(stored))
            if result.changed or result.jobs or result.escalated:
                return None
            results.append(result)
        for update in updates:
            known.move_to_end(update.key)
        return results

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
