"""The embedded SQLite backend: one file, WAL mode, one process.

One file per concern: connection.py (the lock, schema and upgrades; schema.sql and
console_schema.sql), writer.py (the writer thread), groups.py, jobs.py, console.py,
retention.py (and message refs); common.py holds the SQL and row readers they share.

All database work runs on one dedicated writer thread that owns the connection. Callers
submit operations through a queue and await a future. The thread drains whatever is
queued, runs it in ONE ``BEGIN IMMEDIATE ... COMMIT`` with every operation inside its
own savepoint (a failing operation fails only its own caller), commits once and only
then resolves the futures. Concurrent ``apply()`` calls from many webhooks therefore
share one commit (group commit) and nothing is reported done before it is durable.

Durability: ``synchronous=FULL`` (the default) fsyncs the WAL before COMMIT returns, so
a webhook answered 200 survives a power loss or a kernel crash too; group commit shares
one fsync among every webhook of a batch. ``?synchronous=normal`` is an opt-in that skips
the fsync: it survives ``kill -9`` of relay (the WAL is in the OS page cache), but an OS
crash or power loss can lose the last transactions.

One process owns the file: :meth:`SQLiteStore.prepare` takes an exclusive ``flock`` on
``<file>.lock`` (holding the owner's pid) for as long as the store is open. A second relay
on the same file would hand out the first one's leased jobs again, so it is refused.
"""

from __future__ import annotations

from relay.store.base import Store
from relay.store.sqlite.common import SCHEMA_VERSION
from relay.store.sqlite.console import SQLiteConsole
from relay.store.sqlite.groups import SQLiteGroups
from relay.store.sqlite.jobs import SQLiteJobs
from relay.store.sqlite.oncall import SQLiteOnCall
from relay.store.sqlite.retention import SQLiteRetention


class SQLiteStore(SQLiteGroups, SQLiteJobs, SQLiteConsole, SQLiteRetention, SQLiteOnCall, Store):
    """Every role of the store in one SQLite file (the parts are in this package's modules)."""


__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
