"""Opening the file (the lock, the schema and its upgrades), the writer thread, and
reading jobs; what every part of the SQLite backend builds on."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Self

from relay.config.storage import SQLITE_SYNCHRONOUS, parse_sqlite_url
from relay.core.errors import StoreUnavailable
from relay.core.jobs import Job
from relay.store.sqlite.common import (
    JOB_COLUMNS,
    SCHEMA_VERSION,
    Op,
    T,
    fill_console_tables,
    job_of,
    load_schema,
    split_statements,
    upgrade_to_3,
)
from relay.store.sqlite.writer import STOP, Request, Writer

#: Groups whose committed state is kept in memory (SQLiteBase._committed_groups).
COMMITTED_GROUPS_KEPT = 10_000


def _every_group_if_few(conn: sqlite3.Connection) -> dict[str, str] | None:
    """Every group's stored text, when the file has no more than COMMITTED_GROUPS_KEPT."""
    if conn.execute("SELECT count(*) FROM groups").fetchone()[0] > COMMITTED_GROUPS_KEPT:
        return None
    return dict(conn.execute("SELECT key, state FROM groups").fetchall())


class SQLiteBase:
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "full",
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous.lower() not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite synchronous must be full or normal, not {synchronous!r}")
        self.path = Path(path).absolute()
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._writer: Writer | None = None
        self._owner_fd: int | None = None  # the flock on <file>.lock while open
        # Each group's state as last committed (its JSON text), most recently used last:
        # an unchanged webhook is decided against it on the event loop, and a transition
        # planned on it (groups.py). Only the event loop reads and writes it.
        self._committed_groups: OrderedDict[str, str] = OrderedDict()
        # Whether it holds every group in the file, so that a key it lacks is a new group:
        # true from open() when the file has at most COMMITTED_GROUPS_KEPT groups, until
        # one is evicted or what committed is uncertain.
        self._groups_complete = False
        # Groups with a change on its way to the writer: how many updates of each.
        self._committing: dict[str, int] = {}

    @classmethod
    def from_url(cls, url: str) -> Self:
        parsed = parse_sqlite_url(url)  # a ValueError names the part that is wrong
        return cls(parsed.path, synchronous=parsed.synchronous, busy_timeout=parsed.busy_timeout)

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
            self._writer.queue.put(Request(op, future, loop))
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
            self._committed_groups.clear()  # the file may have changed while closed
            self._groups_complete = False
            self._writer = Writer(self.path, self.synchronous, self.busy_timeout)
            self._writer.start()
        try:
            await self._call(self._init)
            every = await self._call(_every_group_if_few)
        except BaseException:
            await self.close()
            raise
        if every is not None:
            self._committed_groups.update(every)
            self._groups_complete = True

    def _init(self, conn: sqlite3.Connection) -> None:
        # executescript() would COMMIT the surrounding transaction; run statements one by one.
        for statement in split_statements(load_schema("schema.sql")):
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
                conn.execute("ALTER TABLE groups ADD COLUMN firing_count INTEGER NOT NULL DEFAULT 0")
                conn.execute(
                    "UPDATE groups SET firing_count = (SELECT count(*) FROM json_each(groups.state,"
                    " '$.alerts') WHERE json_extract(json_each.value, '$.status') = 'firing')"
                )
            if row[0] < 3:
                upgrade_to_3(conn)
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        for statement in split_statements(load_schema("console_schema.sql")):
            conn.execute(statement)
        if row[0] is not None and row[0] < 3:
            fill_console_tables(conn)
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
            writer.queue.put(STOP)
        await asyncio.to_thread(writer.join)
        self._release_file()

    async def ping(self) -> None:
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone())

    def describe(self) -> str:
        query = "?synchronous=normal" if self.synchronous == "NORMAL" else ""
        return f"sqlite:///{self.path}{query}"

    # -- reading jobs (the queue and the console) -----------------------------------
    async def get_job(self, job_id: str) -> Job | None:
        def op(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
            found = row.fetchone()
            return job_of(found) if found is not None else None

        return await self._call(op)
