"""A group transition's result and the rows that store it, computed apart from writing them.

The writer thread holds the file; whatever Python it runs competes with the event loop
for the one interpreter, so every millisecond of transition computed there is a
millisecond the commit (and every webhook and delivery waiting on it) is late. So the
event loop plans each transition on the state it believes is stored (the group's last
committed text, or no group while it holds every group of the file) and the writer only
checks that belief in its own transaction and writes the planned rows. When the stored
text is not the one assumed, the writer computes the transition itself, as before.
tests/store/test_sqlite_planned.py compares the two paths over random sequences.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from relay.core.groups import GroupUpdate, TransitionResult
from relay.store.sqlite.common import (
    JobRows,
    dumps,
    group_of_text,
    insert_job_rows,
    job_rows,
    stored_group_text,
)

INSERT_GROUP = (
    "INSERT OR REPLACE INTO groups (key, next_flush_at, updated_at, alert_count,"
    " firing_count, state, receiver) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_INCIDENT = (
    "INSERT OR REPLACE INTO incidents (id, started_at, receiver, policy, value) VALUES (?, ?, ?, ?, ?)"
)


@dataclass
class GroupWrite:
    """One update's transition and its rows, for the group stored as ``assumed``."""

    key: str
    assumed: str | None  # the stored JSON text the transition started from; None: no group
    result: TransitionResult
    text: str | None  # the group's JSON text once written; None: no group
    delete: bool = False
    group_row: tuple[Any, ...] | None = None
    incident_row: tuple[Any, ...] | None = None
    jobs: JobRows = field(default_factory=lambda: ([], []))

    @property
    def changes_nothing(self) -> bool:
        """Nothing to write and nothing to report once committed."""
        return not (self.result.changed or self.result.jobs or self.result.escalated)


def plan(update: GroupUpdate, stored_text: str | None) -> GroupWrite:
    """The update's transition on the group stored as ``stored_text``, and its rows."""
    stored = group_of_text(stored_text) if stored_text is not None else None
    before = dict(stored.incident) if stored is not None and stored.incident else None
    result = update.transition(stored)
    write = GroupWrite(update.key, stored_text, result, stored_text)
    state = result.state
    if not result.changed:
        pass  # already stored as it is
    elif state is None:
        write.delete, write.text = True, None
    else:
        write.text = dumps(state.to_dict())
        write.group_row = (
            update.key,
            state.next_flush_at,
            state.updated_at,
            len(state.alerts),
            state.kept_count(),
            write.text,
            state.receiver,
        )
        incident = state.incident
        if incident is not None and incident != before:
            write.incident_row = (
                incident["id"],
                incident["started_at"],
                incident["receiver"],
                incident.get("policy"),
                dumps(incident),
            )
    write.jobs = job_rows(result.jobs)
    return write


def store(conn: sqlite3.Connection, write: GroupWrite) -> None:
    """Write a planned transition's rows (the caller checked what it assumed)."""
    if write.delete:
        conn.execute("DELETE FROM groups WHERE key = ?", (write.key,))
    elif write.group_row is not None:
        conn.execute(INSERT_GROUP, write.group_row)
        if write.incident_row is not None:
            conn.execute(INSERT_INCIDENT, write.incident_row)
    insert_job_rows(conn, write.jobs)


def apply_one(
    conn: sqlite3.Connection, update: GroupUpdate, planned: GroupWrite | None = None
) -> tuple[TransitionResult, str | None, bool]:
    """The update applied in the writer's transaction: ``planned`` when the group is
    stored as it assumed, else the transition computed here on what is stored. Returns
    the result, the group's JSON text as stored now (None: no group), and whether the
    plan was used."""
    stored_text = stored_group_text(conn, update.key)
    used = planned is not None and planned.assumed == stored_text
    write = planned if used and planned is not None else plan(update, stored_text)
    store(conn, write)
    return write.result, write.text, used
