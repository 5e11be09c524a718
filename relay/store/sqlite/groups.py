"""Group state in SQLite: transitions planned on the event loop (or decided without the
writer when nothing changes) and applied in the writer's transaction, and the groups
whose timer is due."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import cast

from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.store.sqlite.common import load_group
from relay.store.sqlite.connection import COMMITTED_GROUPS_KEPT, SQLiteBase
from relay.store.sqlite.group_writes import GroupWrite, apply_one, plan

#: A group whose stored state this process cannot tell (an earlier update of the same
#: batch is left to the writer).
_UNKNOWN = object()


class SQLiteGroups(SQLiteBase):
    #: Plans the writer used, and those it could not (the group was not stored as this
    #: process believed): for the tests.
    plans_used = plans_missed = 0

    # -- groups ------------------------------------------------------------------------
    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        if not updates:
            return []
        updates = list(updates)
        plans = self._planned(updates)
        unchanged = self._unchanged(updates, plans)
        if unchanged is not None:
            return unchanged
        known, committing = self._committed_groups, self._committing
        for update in updates:  # until this commits, the writer's copy is the only one
            known.pop(update.key, None)
            committing[update.key] = committing.get(update.key, 0) + 1
        try:
            applied = await self._call(
                lambda conn: [apply_one(conn, u, p) for u, p in zip(updates, plans, strict=True)]
            )
        except StoreUnavailable:
            known.clear()  # what committed is uncertain: read it again from the file
            self._groups_complete = False
            raise
        finally:
            for update in updates:
                left = committing.pop(update.key) - 1
                if left:
                    committing[update.key] = left
        for update, write, (_, stored, used) in zip(updates, plans, applied, strict=True):
            self.plans_used += used
            self.plans_missed += write is not None and not used
            if stored is not None:
                known[update.key] = stored
                known.move_to_end(update.key)
        while len(known) > COMMITTED_GROUPS_KEPT:
            known.popitem(last=False)
            self._groups_complete = False
        return [result for result, _, _ in applied]

    def _planned(self, updates: list[GroupUpdate]) -> list[GroupWrite | None]:
        """Each pure update's transition and rows, computed here on the event loop on the
        group as this process believes it is stored: its last committed state, or no
        group when the store holds every group in memory and this one is not among them
        (a new group, most of a storm). The writer checks that belief in its transaction
        and computes the transition itself when it was wrong (relay.store.sqlite.group_writes).
        None for an update left to the writer: impure, or a group this process cannot
        tell (evicted from memory, or a change of it still being committed)."""
        known, complete, committing = self._committed_groups, self._groups_complete, self._committing
        believed: dict[str, object] = {}  # key -> the text after this batch's earlier updates
        plans: list[GroupWrite | None] = []
        for update in updates:
            key = update.key
            text: object
            if key in believed:
                text = believed[key]
            elif key in known:
                text = known[key]
            elif complete and key not in committing:
                text = None  # not in the file: a new group
            else:
                text = _UNKNOWN  # evicted, or being committed: the writer reads it
            if not update.pure or text is _UNKNOWN:
                plans.append(None)
                believed[update.key] = _UNKNOWN
                continue
            write = plan(update, cast(str | None, text))
            plans.append(write)
            believed[update.key] = write.text
        return plans

    def _unchanged(
        self, updates: list[GroupUpdate], plans: list[GroupWrite | None]
    ) -> list[TransitionResult] | None:
        """The results, when every update was planned on the state last committed and
        changes nothing and makes no job: an HA pair's second webhook and Alertmanager's
        re-sends, most of ingest. There is nothing to write, so the writer (its thread
        hop, transaction and read) is skipped. Else None: the writer applies them all.

        Equivalent to the writer's path: this process is the file's only writer, every
        committed group change goes through apply() (which records it here, in commit
        order, before its caller resumes) and prune() forgets them all; a webhook decided
        here while a change of its group is being committed is ordered before that change,
        as it would be had it reached the writer first. tests/store/test_sqlite_planned.py
        compares the two paths over random sequences."""
        known = self._committed_groups
        for update, write in zip(updates, plans, strict=True):
            if write is None or not write.changes_nothing or known.get(update.key, _UNKNOWN) != write.assumed:
                return None
        for update in updates:
            known.move_to_end(update.key)
        return [cast(GroupWrite, write).result for write in plans]

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
