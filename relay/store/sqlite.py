"""The embedded SQLite backend: one file, WAL mode, one process.

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

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

import orjson

from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import JOB_STATUSES, Attempt, Job, JobStatus, NewJob
from relay.store.base import (
    STATS_KEEP,
    ClaimRoom,
    IntegrationStats,
    JobPage,
    JobQuery,
    KeptWebhook,
    Store,
    hour_and_day_buckets,
    stats_bucket,
)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], T]

# 2: groups.firing_count (prune groups whose alerts are all resolved)
# 3: jobs.digest_id (a notification merged into a storm digest); the console:
#    jobs.actions, groups.receiver, log indexes, counters, kept webhooks
SCHEMA_VERSION = 3
MAX_BATCH = 512  # operations per group commit; bounds the latency of one transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    key TEXT PRIMARY KEY,
    next_flush_at REAL,
    updated_at REAL NOT NULL,
    alert_count INTEGER NOT NULL,
    state TEXT NOT NULL,
    firing_count INTEGER NOT NULL DEFAULT 0,
    receiver TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS groups_next_flush_at ON groups (next_flush_at)
    WHERE next_flush_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    receiver TEXT NOT NULL,
    integration TEXT NOT NULL,
    group_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    attempts TEXT NOT NULL DEFAULT '[]',
    last_error TEXT NOT NULL DEFAULT '',
    finished_at REAL,
    digest_id TEXT,
    actions TEXT NOT NULL DEFAULT '[]'
);
-- Claiming seeks per integration: a full integration's backlog is never scanned.
DROP INDEX IF EXISTS jobs_status_next_attempt_at;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (status, integration, next_attempt_at, created_at);
CREATE TABLE IF NOT EXISTS refs (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

# Schema 3, created after the upgrade of an older file has added the columns it uses.
# The delivery log pages by (created_at, id) descending within one index per filter, so
# a page reads `limit` index entries however many jobs there are (no OFFSET).
_CONSOLE_SCHEMA = """
DROP INDEX IF EXISTS jobs_created_at;
CREATE INDEX IF NOT EXISTS jobs_log ON jobs (created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_status ON jobs (status, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_receiver ON jobs (receiver, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_integration ON jobs (integration, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_log_group ON jobs (group_key, created_at, id);
-- The oldest queued job of an integration, one seek per status.
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (status, integration, created_at);
CREATE INDEX IF NOT EXISTS groups_receiver ON groups (receiver, key);
-- A notification may carry several alertnames: one row each, kept by triggers.
CREATE TABLE IF NOT EXISTS job_alertnames (
    alertname TEXT NOT NULL,
    created_at REAL NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (alertname, created_at, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_alertnames_id ON job_alertnames (id);
CREATE TRIGGER IF NOT EXISTS jobs_alertnames_insert AFTER INSERT ON jobs BEGIN
    INSERT OR IGNORE INTO job_alertnames (alertname, created_at, id)
    SELECT DISTINCT json_extract(value, '$.labels.alertname'), new.created_at, new.id
    FROM json_each(new.payload, '$.alerts')
    WHERE coalesce(json_extract(value, '$.labels.alertname'), '') != '';
END;
CREATE TRIGGER IF NOT EXISTS jobs_alertnames_delete AFTER DELETE ON jobs BEGIN
    DELETE FROM job_alertnames WHERE id = old.id;
END;
-- Jobs per (integration, status), kept by triggers in the same transaction as the jobs
-- themselves: the overview and /metrics read counters instead of counting rows.
CREATE TABLE IF NOT EXISTS job_counts (
    integration TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (integration, status)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (integration, status, n) VALUES (new.integration, new.status, 1)
    ON CONFLICT (integration, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_update AFTER UPDATE OF status ON jobs
WHEN old.status != new.status BEGIN
    UPDATE job_counts SET n = n - 1 WHERE integration = old.integration AND status = old.status;
    INSERT INTO job_counts (integration, status, n) VALUES (new.integration, new.status, 1)
    ON CONFLICT (integration, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE integration = old.integration AND status = old.status;
END;
-- Attempts per integration in STATS_BUCKET-second buckets, and the last one.
CREATE TABLE IF NOT EXISTS integration_stats (
    integration TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (integration, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS integration_last (
    integration TEXT PRIMARY KEY,
    at REAL NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    receiver TEXT NOT NULL,
    body TEXT NOT NULL,
    bytes INTEGER NOT NULL
)
"""

_JOB_COLUMNS = (
    "id, receiver, integration, group_key, payload, status, created_at, next_attempt_at,"
    " lease_owner, attempts, last_error, finished_at, digest_id, actions"
)


# The integrations that have pending jobs, one index seek each (a loose index scan):
# a backlog of thousands for one integration costs nothing when it is excluded.
_PENDING_INTEGRATIONS = """
WITH RECURSIVE seen(integration) AS (
    SELECT (SELECT MIN(integration) FROM jobs WHERE status = 'pending')
    UNION ALL
    SELECT (SELECT MIN(integration) FROM jobs
            WHERE status = 'pending' AND integration > seen.integration)
    FROM seen WHERE seen.integration IS NOT NULL
)
SELECT integration FROM seen WHERE integration IS NOT NULL
"""
_DUE_OF_INTEGRATION = (
    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status = 'pending' AND integration = ?"
    " AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at LIMIT ?"
)
_LEASE_EXPIRED = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status = 'running' AND lease_until < ?"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        receiver=row[1],
        integration=row[2],
        group_key=row[3],
        payload=orjson.loads(row[4]),
        status=cast(JobStatus, row[5]),
        created_at=row[6],
        next_attempt_at=row[7],
        handle=row[8] or "",
        attempts=[Attempt.from_dict(a) for a in orjson.loads(row[9])],
        last_error=row[10],
        finished_at=row[11],
        digest_id=row[12],
        actions=orjson.loads(row[13]),
    )


def _split_statements(script: str) -> list[str]:
    """The statements of ``script`` (triggers hold ';' inside BEGIN ... END)."""
    statements, current = [], ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current)
            current = ""
    return statements


def _upgrade_to_3(conn: sqlite3.Connection) -> None:
    """Columns schema 3 adds to a file made by an older relay."""
    # A table created by this run (a version-1 file had no jobs) has them already.
    for table, column, kind in (("jobs", "digest_id", "TEXT"),
                                ("jobs", "actions", "TEXT NOT NULL DEFAULT '[]'"),
                                ("groups", "receiver", "TEXT NOT NULL DEFAULT ''")):
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    conn.execute("UPDATE groups SET receiver = coalesce(json_extract(state, '$.receiver'), '')")


def _fill_console_tables(conn: sqlite3.Connection) -> None:
    """What the schema-3 triggers would have written for the jobs already there."""
    conn.execute("DELETE FROM job_counts")
    conn.execute(
        "INSERT INTO job_counts (integration, status, n)"
        " SELECT integration, status, count(*) FROM jobs GROUP BY integration, status"
    )
    conn.execute(
        "INSERT OR IGNORE INTO job_alertnames (alertname, created_at, id)"
        " SELECT DISTINCT json_extract(a.value, '$.labels.alertname'), jobs.created_at, jobs.id"
        " FROM jobs, json_each(jobs.payload, '$.alerts') AS a"
        " WHERE coalesce(json_extract(a.value, '$.labels.alertname'), '') != ''"
    )


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


@dataclass(slots=True)
class _Request:
    op: Op[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()
_AUTO_VACUUM_INCREMENTAL = 2


def _settle(outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    for future, error, value in outcomes:
        if future.done():  # the caller gave up (cancelled); the work is committed anyway
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


class _Writer(threading.Thread):
    """Owns the sqlite3 connection; runs queued operations in group-committed batches."""

    def __init__(self, path: Path, synchronous: str, busy_timeout: float) -> None:
        super().__init__(name=f"relay-sqlite:{path.name}", daemon=True)
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self.transactions = 0

    def unavailable(self, exc: BaseException) -> StoreUnavailable:
        if isinstance(exc, StoreUnavailable):
            return exc
        text, hint = str(exc), ""
        if "locked" in text:
            hint = f" (busy for more than {self.busy_timeout:g}s: is another process using it?)"
        elif "readonly" in text or "unable to open" in text:
            hint = f" (relay needs write access to {self.path.parent} for the -wal/-shm files)"
        elif "full" in text:
            hint = " (free disk space; relay resumes on its own)"
        return StoreUnavailable(f"sqlite database {self.path}: {text}{hint}")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            # Pages freed by prune go back to the file system (prune runs incremental_vacuum).
            # A file made before relay set this is converted once, by a full VACUUM.
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _AUTO_VACUUM_INCREMENTAL:
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    conn.execute("VACUUM")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreUnavailable(f"sqlite database {self.path}: cannot enable WAL ({mode})")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    def run(self) -> None:
        conn: sqlite3.Connection | None = None
        broken: StoreUnavailable | None = None
        try:
            conn = self._connect()
        except Exception as exc:  # every caller learns why, instead of waiting forever
            broken = self.unavailable(exc)
        try:
            stop = False
            while not stop:
                batch: list[_Request] = []
                item = self.queue.get()
                while True:
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(cast(_Request, item))
                    if len(batch) >= MAX_BATCH:
                        break
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                if not batch:
                    continue
                if conn is None:
                    assert broken is not None
                    self._resolve([(r, broken, None) for r in batch])
                else:
                    self._resolve(self._run_batch(conn, batch))
        finally:
            if conn is not None:
                conn.close()
            closed = StoreUnavailable(f"sqlite database {self.path}: store is closed")
            leftovers: list[tuple[_Request, BaseException | None, Any]] = []
            while True:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    leftovers.append((cast(_Request, item), closed, None))
            self._resolve(leftovers)

    def _run_batch(
        self, conn: sqlite3.Connection, batch: list[_Request]
    ) -> list[tuple[_Request, BaseException | None, Any]]:
        done: list[tuple[_Request, BaseException | None, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for request in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = request.op(conn)
                except Exception as exc:
                    if not conn.in_transaction:  # SQLite rolled everything back (full, I/O)
                        raise
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    if isinstance(exc, sqlite3.Error) and not isinstance(
                        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
                    ):
                        done.append((request, self.unavailable(exc), None))
                    else:
                        done.append((request, exc, None))
                else:
                    conn.execute("RELEASE op")
                    done.append((request, None, value))
            conn.execute("COMMIT")
            self.transactions += 1
        except Exception as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = self.unavailable(exc)
            return [(r, error, None) for r in batch]
        return done

    @staticmethod
    def _resolve(outcomes: list[tuple[_Request, BaseException | None, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for request, error, value in outcomes:
            by_loop.setdefault(request.loop, []).append((request.future, error, value))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, items)


class SQLiteStore(Store):
    """The embedded store: ``sqlite:///relative/path.db`` or ``sqlite:////abs/path.db``.

    URL query options: ``synchronous=full|normal`` (default full, see the module
    docstring) and ``busy_timeout`` in seconds (default 5).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "full",
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous.lower() not in ("normal", "full"):
            raise ValueError(f"sqlite synchronous must be 'normal' or 'full', not {synchronous!r}")
        self.path = Path(path).absolute()
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._writer: _Writer | None = None
        self._owner_fd: int | None = None  # the flock on <file>.lock while open

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        parts = urlsplit(url)
        if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
            raise ValueError(
                f"storage.url {url!r}: expected sqlite:///relative/path.db or sqlite:////abs/path.db"
            )
        path = parts.path[1:]
        if not path or path == ":memory:":
            raise ValueError(f"storage.url {url!r}: a database file path is required")
        options: dict[str, Any] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name == "synchronous":
                options["synchronous"] = value
            elif name == "busy_timeout":
                options["busy_timeout"] = float(value)
            else:
                raise ValueError(f"storage.url {url!r}: unknown option {name!r}")
        return cls(path, **options)

    @property
    def transactions(self) -> int:
        """Transactions committed since open (fewer than calls when group commit works)."""
        writer = self._writer
        return writer.transactions if writer is not None else 0

    # -- plumbing --------------------------------------------------------------------
    async def _call(self, op: Op[T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._writer is None:
                raise StoreUnavailable(f"sqlite database {self.path}: store is closed")
            self._writer.queue.put(_Request(op, future, loop))
        return await future

    # -- lifecycle -------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def prepare(self) -> None:
        """Create the directory and take the file for this process, or raise
        StoreUnavailable naming the relay that has it. Idempotent; open() calls it."""
        if self._owner_fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create directory {self.path.parent}: {exc}") from exc
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreUnavailable(
                f"sqlite database {self.path}: cannot open {self.lock_path}: {exc.strerror}"
                f" (relay needs write access to {self.path.parent})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreUnavailable(
                f"database {self.path} is in use by another relay (pid {holder}); one relay"
                " process per SQLite file (use Redis storage to run several)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._owner_fd = fd

    def _release_file(self) -> None:
        fd, self._owner_fd = self._owner_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    async def open(self) -> None:
        self.prepare()
        with self._lock:
            if self._writer is not None:
                return
            self._writer = _Writer(self.path, self.synchronous, self.busy_timeout)
            self._writer.start()
        try:
            await self._call(self._init)
        except BaseException:
            await self.close()
            raise

    def _init(self, conn: sqlite3.Connection) -> None:
        # executescript() would COMMIT the surrounding transaction; run statements one by one.
        for statement in _split_statements(_SCHEMA):
            conn.execute(statement)
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        if row[0] is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif row[0] > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"sqlite database {self.path}: schema version {row[0]} is newer than this"
                f" relay supports ({SCHEMA_VERSION}); upgrade relay"
            )
        else:
            if row[0] < 2:
                conn.execute(
                    "ALTER TABLE groups ADD COLUMN firing_count INTEGER NOT NULL DEFAULT 0")
                conn.execute(
                    "UPDATE groups SET firing_count = (SELECT count(*) FROM json_each(groups.state,"
                    " '$.alerts') WHERE json_extract(json_each.value, '$.status') = 'firing')"
                )
            if row[0] < 3:
                _upgrade_to_3(conn)
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        for statement in _split_statements(_CONSOLE_SCHEMA):
            conn.execute(statement)
        if row[0] is not None and row[0] < 3:
            _fill_console_tables(conn)
        # One process owns the file: whatever a previous run was delivering is due again.
        conn.execute(
            "UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_until = NULL"
            " WHERE status = 'running'"
        )

    async def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is None:
                self._release_file()
                return
            writer.queue.put(_STOP)
        await asyncio.to_thread(writer.join)
        self._release_file()

    async def ping(self) -> None:
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone())

    def describe(self) -> str:
        query = "?synchronous=normal" if self.synchronous == "NORMAL" else ""
        return f"sqlite:///{self.path}{query}"

    # -- groups ------------------------------------------------------------------------
    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        if not updates:
            return []
        updates = list(updates)
        return await self._call(lambda conn: [_apply_one(conn, u) for u in updates])

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
        return await self._call(lambda conn: _load_group(conn, key))

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
        return await self._call(lambda conn: _claim(conn, owner, now, limit, lease, room))

    async def count_due(self, integration: str, now: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT count(*) FROM jobs WHERE status = 'pending' AND integration = ?"
                " AND next_attempt_at <= ?", (integration, now),
            ).fetchone()
            return int(row[0])

        return await self._call(op)

    async def claim_integration(
        self, owner: str, integration: str, now: float, limit: int, lease: float
    ) -> list[Job]:
        def room(name: str) -> int:
            return limit if name == integration else 0

        return await self._call(lambda conn: _claim(conn, owner, now, limit, lease, room))

    async def merge_into_digest(
        self, owner: str, digest: NewJob, merged: Collection[str], now: float
    ) -> bool:
        ids = list(merged)
        attempt = Attempt(at=now, duration=0.0, outcome="delivered", reason="digest",
                          detail=f"merged into digest {digest.id}")
        marker = _dumps(attempt.to_dict())

        def op(conn: sqlite3.Connection) -> bool:
            held = 0
            for chunk in _chunks(ids, 500):
                held += conn.execute(
                    f"SELECT count(*) FROM jobs WHERE id IN ({_placeholders(len(chunk))})"
                    " AND status = 'running' AND lease_owner = ?", (*chunk, owner),
                ).fetchone()[0]
            if held != len(ids):
                return False
            for chunk in _chunks(ids, 500):
                conn.execute(
                    "UPDATE jobs SET status = 'delivered', finished_at = ?, last_error = '',"
                    " digest_id = ?, lease_owner = NULL, lease_until = NULL,"
                    " attempts = json_insert(attempts, '$[#]', json(?))"
                    f" WHERE id IN ({_placeholders(len(chunk))})",
                    (now, digest.id, marker, *chunk),
                )
            _insert_jobs(conn, [digest])
            return True

        return await self._call(op)

    async def renew(self, owner: str, job_ids: Collection[str], until: float) -> None:
        ids = list(job_ids)
        if not ids:
            return
        await self._call(
            lambda conn: conn.execute(
                f"UPDATE jobs SET lease_until = ? WHERE id IN ({_placeholders(len(ids))})"
                " AND status = 'running' AND lease_owner = ?",
                (until, *ids, owner),
            )
        )

    async def release(self, owner: str, job_ids: Collection[str]) -> None:
        ids = list(job_ids)
        if not ids:
            return
        await self._call(
            lambda conn: conn.execute(
                "UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_until = NULL"
                f" WHERE id IN ({_placeholders(len(ids))}) AND status = 'running'"
                " AND lease_owner = ?",
                (*ids, owner),
            )
        )

    async def record_attempt(
        self, job: Job, attempt: Attempt, next_attempt_at: float | None = None
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT status, attempts, next_attempt_at FROM jobs WHERE id = ?", (job.id,)
            ).fetchone()
            if row is None:  # pruned meanwhile; nothing left to record on
                return
            status, attempts, due = row
            attempts = _dumps([*orjson.loads(attempts), attempt.to_dict()])
            _count_attempt(conn, job.integration, attempt)
            if status == "delivered":  # another worker got there first; keep it delivered
                conn.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (attempts, job.id))
                return
            error = attempt.error or attempt.reason
            finished: float | None = attempt.at
            if attempt.outcome == "delivered":
                status, error = "delivered", ""
            elif attempt.outcome == "dead":
                status = "dead"
            else:
                status, finished = "pending", None
                due = attempt.at if next_attempt_at is None else next_attempt_at
            conn.execute(
                "UPDATE jobs SET status = ?, attempts = ?, last_error = ?, finished_at = ?,"
                " next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (status, attempts, error, finished, due, job.id),
            )

        await self._call(op)

    async def requeue(self, job_id: str, now: float, by: str | None = None) -> bool:
        # The dispatcher restarts its retry window at the latest "requeued" attempt.
        marker = _dumps(Attempt(at=now, duration=0.0, outcome="retry", reason="requeued").to_dict())
        action = _dumps({"action": "retry", "by": by, "at": now}) if by is not None else None

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

    async def get_job(self, job_id: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
            found = row.fetchone()
            return _job(found) if found is not None else None

        return await self._call(op)

    async def list_jobs(
        self, status: JobStatus | None = None, limit: int = 100, receiver: str | None = None
    ) -> list[Job]:
        def op(conn: sqlite3.Connection) -> list[Job]:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs"
                " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR receiver = ?2)"
                " ORDER BY created_at DESC, rowid DESC LIMIT ?3",
                (status, receiver, limit),
            )
            return [_job(row) for row in rows]

        return await self._call(op)

    async def job_counts(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            counts: dict[str, int] = dict.fromkeys(JOB_STATUSES, 0)
            # The trigger-kept counters (a few rows per integration), not a count of jobs.
            for status, n in conn.execute("SELECT status, sum(n) FROM job_counts GROUP BY status"):
                counts[status] = n
            return counts

        return await self._call(op)

    # -- the console -------------------------------------------------------------------
    async def query_jobs(self, query: JobQuery) -> JobPage:
        sql, args = _log_query(query)

        def op(conn: sqlite3.Connection) -> JobPage:
            rows = conn.execute(sql, args).fetchall()
            jobs = [_job(row) for row in rows[: query.limit]]
            more = len(rows) > query.limit
            return JobPage(jobs, (jobs[-1].created_at, jobs[-1].id) if more and jobs else None)

        return await self._call(op)

    async def resend(self, job_id: str, new_id: str, now: float, by: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[5] != "delivered":
                return None
            original = _job(row)
            conn.execute(
                "INSERT INTO jobs (id, receiver, integration, group_key, payload, status,"
                " created_at, next_attempt_at, actions) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (new_id, original.receiver, original.integration, original.group_key, row[4], now,
                 now, _dumps([{"action": "resent_from", "by": by, "at": now, "job": job_id}])),
            )
            conn.execute(
                "UPDATE jobs SET actions = json_insert(actions, '$[#]', json(?)) WHERE id = ?",
                (_dumps({"action": "resend", "by": by, "at": now, "job": new_id}), job_id),
            )
            found = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (new_id,))
            return _job(found.fetchone())

        return await self._call(op)

    async def integration_stats(self, now: float) -> dict[str, IntegrationStats]:
        hour, day = hour_and_day_buckets(now)

        def op(conn: sqlite3.Connection) -> dict[str, IntegrationStats]:
            stats: dict[str, IntegrationStats] = {}
            for integration, bucket, delivered, failed in conn.execute(
                "SELECT integration, bucket, delivered, failed FROM integration_stats"
                " WHERE bucket >= ?", (day,)
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
                if oldest is not None and (entry.oldest_queued_at is None
                                           or oldest < entry.oldest_queued_at):
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

    async def keep_webhooks(
        self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int
    ) -> None:
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
            rows = conn.execute(
                "SELECT id, received_at, receiver, body FROM webhooks ORDER BY seq DESC"
            )
            return [KeptWebhook(*row) for row in rows]

        return await self._call(op)

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
            groups = conn.execute(
                "DELETE FROM groups WHERE firing_count = 0 AND updated_at < ?"
                " AND key NOT IN (SELECT group_key FROM jobs WHERE status IN ('pending', 'running'))",
                (now - group_retention,),
            )
            refs = conn.execute("DELETE FROM refs WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM integration_stats WHERE bucket < ?", (now - STATS_KEEP,))
            _give_back_free_pages(conn)
            return jobs.rowcount + groups.rowcount + refs.rowcount

        return await self._call(op)

    # -- message references ------------------------------------------------------------
    async def get_ref(self, key: str) -> dict[str, Any] | None:
        now = self.clock()

        def op(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT value FROM refs WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
            return cast(dict[str, Any], orjson.loads(row[0])) if row is not None else None

        return await self._call(op)

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None:
        encoded, expires_at = _dumps(value), self.clock() + ttl
        await self._call(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO refs (key, value, expires_at) VALUES (?, ?, ?)",
                (key, encoded, expires_at),
            )
        )


def _count_attempt(conn: sqlite3.Connection, integration: str, attempt: Attempt) -> None:
    """The integration's health counters: its bucket, and its last outcome."""
    delivered = 1 if attempt.outcome == "delivered" else 0
    conn.execute(
        "INSERT INTO integration_stats (integration, bucket, delivered, failed)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (integration, bucket) DO UPDATE SET"
        " delivered = delivered + excluded.delivered, failed = failed + excluded.failed",
        (integration, stats_bucket(attempt.at), delivered, 1 - delivered),
    )
    conn.execute(
        "INSERT OR REPLACE INTO integration_last (integration, at, outcome, reason, error)"
        " SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS"
        " (SELECT 1 FROM integration_last WHERE integration = ?1 AND at > ?2)",
        (integration, attempt.at, attempt.outcome, attempt.reason, attempt.error),
    )


_LOG_COLUMNS = {  # LogStatus -> the condition on jobs
    "pending": "j.status = 'pending'",
    "retrying": "j.status = 'pending' AND j.attempts != '[]'",
    "running": "j.status = 'running'",
    "delivered": "j.status = 'delivered'",
    "dead": "j.status = 'dead'",
}


def _log_query(query: JobQuery) -> tuple[str, list[Any]]:
    """The SELECT for one page of the log. With an alertname the page walks that name's
    rows of job_alertnames (its own index); otherwise SQLite picks the index of the most
    selective equality filter, each ordered by (created_at, id)."""
    columns = ", ".join(f"j.{c.strip()}" for c in _JOB_COLUMNS.split(","))
    where: list[str] = []
    args: list[Any] = []
    if query.alertname is not None:
        source, order = "job_alertnames a JOIN jobs j ON j.id = a.id", "a"
        where.append("a.alertname = ?")
        args.append(query.alertname)
    else:
        source, order = "jobs j", "j"
    if query.status is not None:
        where.append(_LOG_COLUMNS[query.status])
    for column, value in (("receiver", query.receiver), ("integration", query.integration),
                          ("group_key", query.group_key)):
        if value is not None:
            where.append(f"j.{column} = ?")
            args.append(value)
    if query.since is not None:
        where.append(f"{order}.created_at >= ?")
        args.append(query.since)
    if query.until is not None:
        where.append(f"{order}.created_at <= ?")
        args.append(query.until)
    if query.cursor is not None:
        where.append(f"({order}.created_at, {order}.id) < (?, ?)")
        args += [query.cursor[0], query.cursor[1]]
    sql = (f"SELECT {columns} FROM {source}"
           f"{' WHERE ' + ' AND '.join(where) if where else ''}"
           f" ORDER BY {order}.created_at DESC, {order}.id DESC LIMIT ?")
    return sql, [*args, query.limit + 1]


def _give_back_free_pages(conn: sqlite3.Connection) -> None:
    """Truncate the file by its free pages (auto_vacuum=INCREMENTAL). Python's sqlite3
    steps ``PRAGMA incremental_vacuum`` once, which frees a single page: repeat it."""
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    for _ in range(free):
        conn.execute("PRAGMA incremental_vacuum")
        if not conn.execute("PRAGMA freelist_count").fetchone()[0]:
            break


def _load_group(conn: sqlite3.Connection, key: str) -> GroupState | None:
    row = conn.execute("SELECT state FROM groups WHERE key = ?", (key,)).fetchone()
    return GroupState.from_dict(orjson.loads(row[0])) if row is not None else None


def _claim(
    conn: sqlite3.Connection, owner: str, now: float, limit: int, lease: float,
    room: Callable[[str], int],
) -> list[Job]:
    """Lease due jobs (and jobs whose lease ran out), oldest first, each integration
    within ``room(integration)``."""
    rows: list[tuple[Any, ...]] = []
    for (integration,) in conn.execute(_PENDING_INTEGRATIONS).fetchall():
        if room(integration) > 0:
            rows += conn.execute(
                _DUE_OF_INTEGRATION, (integration, now, room(integration))
            ).fetchall()
    rows += [
        row for row in conn.execute(_LEASE_EXPIRED, (now,)).fetchall()
        if room(row[2]) > 0
    ]
    rows.sort(key=lambda row: (row[7], row[6]))  # next_attempt_at, created_at
    taken: dict[str, int] = {}
    chosen: list[tuple[Any, ...]] = []
    for row in rows:  # oldest first, each integration within its room
        if len(chosen) == limit:
            break
        if taken.get(row[2], 0) < room(row[2]):
            taken[row[2]] = taken.get(row[2], 0) + 1
            chosen.append(row)
    jobs = [_job(row) for row in chosen]
    until = now + lease
    conn.executemany(
        "UPDATE jobs SET status = 'running', lease_owner = ?, lease_until = ? WHERE id = ?",
        [(owner, until, job.id) for job in jobs],
    )
    for job in jobs:
        job.status, job.handle = "running", owner
    return jobs


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _insert_jobs(conn: sqlite3.Connection, jobs: Sequence[NewJob]) -> None:
    conn.executemany(
        "INSERT INTO jobs (id, receiver, integration, group_key, payload, status, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
        [
            (j.id, j.receiver, j.integration, j.group_key, _dumps(j.payload), j.created_at,
             j.created_at)
            for j in jobs
        ],
    )


def _apply_one(conn: sqlite3.Connection, update: GroupUpdate) -> TransitionResult:
    result = update.transition(_load_group(conn, update.key))
    state = result.state
    if not result.changed:
        pass  # already stored as it is
    elif state is None:
        conn.execute("DELETE FROM groups WHERE key = ?", (update.key,))
    else:
        conn.execute(
            "INSERT OR REPLACE INTO groups (key, next_flush_at, updated_at, alert_count,"
            " firing_count, state, receiver) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                update.key,
                state.next_flush_at,
                state.updated_at,
                len(state.alerts),
                state.kept_count(),
                _dumps(state.to_dict()),
                state.receiver,
            ),
        )
    _insert_jobs(conn, result.jobs)
    return result
