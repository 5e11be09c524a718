"""The writer thread: it owns the connection, drains the queue and commits every queued
operation in one transaction, each in its own savepoint (group commit)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from relay.core.errors import StoreUnavailable
from relay.store.sqlite.common import MAX_BATCH, Op


@dataclass(slots=True)
class Request:
    op: Op[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


STOP = object()
AUTO_VACUUM_INCREMENTAL = 2


def settle(outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    for future, error, value in outcomes:
        if future.done():  # the caller gave up (cancelled); the work is committed anyway
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


class Writer(threading.Thread):
    """Owns the sqlite3 connection; runs queued operations in group-committed batches."""

    def __init__(self, path: Path, synchronous: str, busy_timeout: float) -> None:
        super().__init__(name=f"relay-sqlite:{path.name}", daemon=True)
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.queue: queue.SimpleQueue[Request | object] = queue.SimpleQueue()
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
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != AUTO_VACUUM_INCREMENTAL:
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
                batch: list[Request] = []
                item = self.queue.get()
                while True:
                    if item is STOP:
                        stop = True
                        break
                    batch.append(cast(Request, item))
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
            leftovers: list[tuple[Request, BaseException | None, Any]] = []
            while True:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is not STOP:
                    leftovers.append((cast(Request, item), closed, None))
            self._resolve(leftovers)

    def _run_batch(
        self, conn: sqlite3.Connection, batch: list[Request]
    ) -> list[tuple[Request, BaseException | None, Any]]:
        done: list[tuple[Request, BaseException | None, Any]] = []
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
    def _resolve(outcomes: list[tuple[Request, BaseException | None, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for request, error, value in outcomes:
            by_loop.setdefault(request.loop, []).append((request.future, error, value))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, items)
