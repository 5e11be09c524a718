"""What every part of the SQLite backend shares: the schema version, the SQL the parts
run, and how rows become jobs and groups."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, TypeVar, cast

import orjson

from relay.core.groups import GroupState
from relay.core.jobs import Attempt, Job, JobStatus, NewJob
from relay.store.base import (
    JobQuery,
    stats_bucket,
)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], T]

# 2: groups.firing_count (prune groups whose alerts are all resolved)
# 3: jobs.digest_id (a notification merged into a storm digest); the console:
#    jobs.actions, groups.receiver, log indexes, counters, kept webhooks
SCHEMA_VERSION = 3
MAX_BATCH = 512  # operations per group commit; bounds the latency of one transaction


JOB_COLUMNS = (
    "id, receiver, integration, group_key, payload, status, created_at, next_attempt_at,"
    " lease_owner, attempts, last_error, finished_at, digest_id, actions"
)


# The integrations that have pending jobs, one index seek each (a loose index scan):
# a backlog of thousands for one integration costs nothing when it is excluded.
PENDING_INTEGRATIONS = """
WITH RECURSIVE seen(integration) AS (
    SELECT (SELECT MIN(integration) FROM jobs WHERE status = 'pending')
    UNION ALL
    SELECT (SELECT MIN(integration) FROM jobs
            WHERE status = 'pending' AND integration > seen.integration)
    FROM seen WHERE seen.integration IS NOT NULL
)
SELECT integration FROM seen WHERE integration IS NOT NULL
"""
DUE_OF_INTEGRATION = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'pending' AND integration = ?"
    " AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at LIMIT ?"
)
LEASE_EXPIRED = f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'running' AND lease_until < ?"


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def job_of(row: tuple[Any, ...]) -> Job:
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


def split_statements(script: str) -> list[str]:
    """The statements of ``script`` (triggers hold ';' inside BEGIN ... END)."""
    statements, current = [], ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current)
            current = ""
    return statements


def upgrade_to_3(conn: sqlite3.Connection) -> None:
    """Columns schema 3 adds to a file made by an older relay."""
    # A table created by this run (a version-1 file had no jobs) has them already.
    for table, column, kind in (
        ("jobs", "digest_id", "TEXT"),
        ("jobs", "actions", "TEXT NOT NULL DEFAULT '[]'"),
        ("groups", "receiver", "TEXT NOT NULL DEFAULT ''"),
    ):
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    conn.execute("UPDATE groups SET receiver = coalesce(json_extract(state, '$.receiver'), '')")


def fill_console_tables(conn: sqlite3.Connection) -> None:
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


def placeholders(n: int) -> str:
    return ",".join("?" * n)


def count_attempt(conn: sqlite3.Connection, integration: str, attempt: Attempt) -> None:
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


LOG_COLUMNS = {  # LogStatus -> the condition on jobs (Job.in_log_status, in SQL)
    "pending": "j.status = 'pending'",
    "retrying": "j.status = 'pending' AND j.attempts != '[]'",
    "running": "j.status = 'running'",
    "delivered": "j.status = 'delivered'",
    "dead": "j.status = 'dead'",
}


def log_query(query: JobQuery) -> tuple[str, list[Any]]:
    """The SELECT for one page of the log. With an alertname the page walks that name's
    rows of job_alertnames (its own index); otherwise SQLite picks the index of the most
    selective equality filter, each ordered by (created_at, id)."""
    columns = ", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))
    where: list[str] = []
    args: list[Any] = []
    if query.alertname is not None:
        source, order = "job_alertnames a JOIN jobs j ON j.id = a.id", "a"
        where.append("a.alertname = ?")
        args.append(query.alertname)
    else:
        source, order = "jobs j", "j"
    if query.status is not None:
        where.append(LOG_COLUMNS[query.status])
    for column, value in (
        ("receiver", query.receiver),
        ("integration", query.integration),
        ("group_key", query.group_key),
    ):
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
    sql = (
        f"SELECT {columns} FROM {source}"
        f"{' WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY {order}.created_at DESC, {order}.id DESC LIMIT ?"
    )
    return sql, [*args, query.limit + 1]


def give_back_free_pages(conn: sqlite3.Connection) -> None:
    """Truncate the file by its free pages (auto_vacuum=INCREMENTAL). Python's sqlite3
    steps ``PRAGMA incremental_vacuum`` once, which frees a single page: repeat it."""
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    for _ in range(free):
        conn.execute("PRAGMA incremental_vacuum")
        if not conn.execute("PRAGMA freelist_count").fetchone()[0]:
            break


def stored_group_text(conn: sqlite3.Connection, key: str) -> str | None:
    """The group's state as stored: its JSON text, None when there is no such group."""
    row = conn.execute("SELECT state FROM groups WHERE key = ?", (key,)).fetchone()
    return row[0] if row is not None else None


def group_of_text(text: str) -> GroupState:
    """A group state read from its stored JSON text: a copy of its own each time."""
    return GroupState.from_dict(orjson.loads(text))


def load_group(conn: sqlite3.Connection, key: str) -> GroupState | None:
    text = stored_group_text(conn, key)
    return group_of_text(text) if text is not None else None


def claim(
    conn: sqlite3.Connection,
    owner: str,
    now: float,
    limit: int,
    lease: float,
    room: Callable[[str], int],
) -> list[Job]:
    """Lease due jobs (and jobs whose lease ran out), oldest first, each integration
    within ``room(integration)``."""
    rows: list[tuple[Any, ...]] = []
    for (integration,) in conn.execute(PENDING_INTEGRATIONS).fetchall():
        if room(integration) > 0:
            rows += conn.execute(DUE_OF_INTEGRATION, (integration, now, room(integration))).fetchall()
    rows += [row for row in conn.execute(LEASE_EXPIRED, (now,)).fetchall() if room(row[2]) > 0]
    rows.sort(key=lambda row: (row[7], row[6]))  # next_attempt_at, created_at
    taken: dict[str, int] = {}
    chosen: list[tuple[Any, ...]] = []
    for row in rows:  # oldest first, each integration within its room
        if len(chosen) == limit:
            break
        if taken.get(row[2], 0) < room(row[2]):
            taken[row[2]] = taken.get(row[2], 0) + 1
            chosen.append(row)
    jobs = [job_of(row) for row in chosen]
    until = now + lease
    conn.executemany(
        "UPDATE jobs SET status = 'running', lease_owner = ?, lease_until = ? WHERE id = ?",
        [(owner, until, job.id) for job in jobs],
    )
    for job in jobs:
        job.status, job.handle = "running", owner
    return jobs


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


INSERT_JOB = (
    "INSERT INTO jobs (id, receiver, integration, group_key, payload, status, created_at,"
    " next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)"
)
INSERT_ALERTNAME = "INSERT OR IGNORE INTO job_alertnames (alertname, created_at, id) VALUES (?, ?, ?)"


#: New jobs' rows: for ``INSERT_JOB``, and for ``INSERT_ALERTNAME``.
JobRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def job_rows(jobs: Sequence[NewJob]) -> JobRows:
    """The rows of new jobs: for ``INSERT_JOB`` and for ``INSERT_ALERTNAME``."""
    rows = [
        (j.id, j.receiver, j.integration, j.group_key, dumps(j.payload), j.created_at, j.created_at)
        for j in jobs
    ]
    names = [(name, j.created_at, j.id) for j in jobs for name in alertnames_of(j.payload)]
    return rows, names


def insert_job_rows(conn: sqlite3.Connection, rows: JobRows) -> None:
    jobs, names = rows
    if jobs:
        conn.executemany(INSERT_JOB, jobs)
    if names:
        conn.executemany(INSERT_ALERTNAME, names)


def insert_jobs(conn: sqlite3.Connection, jobs: Sequence[NewJob]) -> None:
    insert_job_rows(conn, job_rows(jobs))


def alertnames_of(payload: Any) -> list[str]:
    """The distinct non-empty ``alertname`` labels of a payload's alerts (a digest has
    none), as the delivery log's alertname filter finds them."""
    alerts = payload.get("alerts") if isinstance(payload, dict) else None
    names: dict[str, None] = {}
    for alert in alerts if isinstance(alerts, list) else ():
        labels = alert.get("labels") if isinstance(alert, dict) else None
        name = labels.get("alertname") if isinstance(labels, dict) else None
        if isinstance(name, str) and name:
            names[name] = None
    return list(names)


def insert_alertnames(conn: sqlite3.Connection, jobs: Sequence[tuple[str, float, Any]]) -> None:
    """job_alertnames rows for new jobs given as (id, created_at, payload)."""
    conn.executemany(
        INSERT_ALERTNAME,
        [(name, at, job_id) for job_id, at, payload in jobs for name in alertnames_of(payload)],
    )


def load_schema(name: str) -> str:
    """A schema file of this package (schema.sql, console_schema.sql)."""
    return resources.files("relay.store.sqlite").joinpath(name).read_text(encoding="utf-8")
