"""The SQLite store records an attempt in one UPDATE (the attempts list extended by SQLite's
json_insert, the job's state decided by CASE), where it read the row, extended the list in
Python and wrote it back. Two stores take the same random sequences of claims, attempts
(delivered, retry, dead; late ones on a delivered job; texts with escapes, CJK and odd
numbers) and jobs pruned meanwhile: one records as relay does, one with the read, modify
and write it did before. Every job row and the integrations' counters must be the same.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import Attempt, Job, NewJob, attempt_effect
from relay.store.sqlite import SQLiteStore
from relay.store.sqlite.common import count_attempt, dumps

T0 = 1_700_000_000.0
INTEGRATIONS = ["r/webhook/0", "r/email/0"]
TEXTS = ["", "ok", '{"a":"b\\"c"}', "告警 😀 \u2028 \t\n", "x" * 3000, "\\u0000 \x01", "1e400"]
COLUMNS = "id, status, attempts, last_error, finished_at, next_attempt_at, lease_owner, lease_until"


def read_modify_write(job: Job, attempt: Attempt, next_attempt_at: float | None) -> Any:
    """How the store recorded an attempt before: the slow path this test compares with."""

    def op(conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT status, attempts, next_attempt_at FROM jobs WHERE id = ?", (job.id,)
        ).fetchone()
        if row is None:
            return
        status, attempts, due = row
        attempts = dumps([*orjson.loads(attempts), attempt.to_dict()])
        count_attempt(conn, job.integration, attempt)
        if status == "delivered":
            conn.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (attempts, job.id))
            return
        effect = attempt_effect(attempt, next_attempt_at)
        if effect.next_attempt_at is not None:
            due = effect.next_attempt_at
        conn.execute(
            "UPDATE jobs SET status = ?, attempts = ?, last_error = ?, finished_at = ?,"
            " next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
            (effect.status, attempts, effect.last_error, effect.finished_at, due, job.id),
        )

    return op


def new_job(index: int) -> GroupUpdate:
    key = f"r|g{index}"
    state = GroupState(key=key, receiver="r", route_id="0", labels={}, alerts={})
    job = NewJob(f"job{index:03d}", "r", INTEGRATIONS[index % 2], key, {"alerts": []}, T0 + index)
    return GroupUpdate(key, lambda _old: TransitionResult(state, [job]))


def random_attempt(rng: random.Random, at: float) -> tuple[Attempt, float | None]:
    outcome = rng.choice(["delivered", "retry", "dead"])
    attempt = Attempt(
        at=at,
        duration=rng.choice([0.0, 0.001234567890123, 12.5, 1e-7]),
        outcome=outcome,
        reason=rng.choice(["ok", "http_503", "timeout", "", "原因"]),
        error=rng.choice(TEXTS),
        detail=rng.choice(TEXTS),
        sent=[rng.choice(TEXTS) for _ in range(rng.randint(0, 3))],
    )
    due = rng.choice([None, at + rng.uniform(1, 600)]) if outcome == "retry" else None
    return attempt, due


def prune(job_id: str) -> Any:
    return lambda conn: conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


async def snapshot(store: SQLiteStore) -> tuple[Any, ...]:
    def read(conn: sqlite3.Connection) -> tuple[Any, ...]:
        jobs = [
            (*row[:2], orjson.loads(row[2]), *row[3:])
            for row in conn.execute(f"SELECT {COLUMNS} FROM jobs ORDER BY id").fetchall()
        ]
        stats = conn.execute("SELECT * FROM integration_stats ORDER BY 1, 2").fetchall()
        last = conn.execute("SELECT * FROM integration_last ORDER BY 1").fetchall()
        return jobs, stats, last

    return await store._call(read)


@pytest.mark.parametrize("seed", range(12))
async def test_recording_in_one_update_matches_read_modify_write(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    fast = SQLiteStore.from_url(f"sqlite:///{tmp_path}/fast.db")
    slow = SQLiteStore.from_url(f"sqlite:///{tmp_path}/slow.db")
    await fast.open()
    await slow.open()
    try:
        for store in (fast, slow):
            await store.apply([new_job(i) for i in range(8)])
        recorded = 0
        for step in range(60):
            now = T0 + 100 + step
            action = rng.random()
            if action < 0.2:  # claimed (leased) before their attempts, as the dispatcher does
                limit = rng.randint(1, 4)
                for store in (fast, slow):
                    await store.claim_jobs("me", now, limit, 60.0)
            elif action < 0.25:  # pruned while an attempt was under way
                delete = prune(f"job{rng.randrange(8):03d}")
                for store in (fast, slow):
                    await store._call(delete)
            else:
                index = rng.randrange(8)
                job = Job(
                    id=f"job{index:03d}",
                    receiver="r",
                    integration=INTEGRATIONS[index % 2],
                    group_key=f"r|g{index}",
                    payload={},
                    created_at=T0 + index,
                    status="running",
                    next_attempt_at=T0,
                )
                attempt, due = random_attempt(rng, now)
                await fast.record_attempt(job, attempt, due)
                await slow._call(read_modify_write(job, attempt, due))
                recorded += 1
            assert await snapshot(fast) == await snapshot(slow), f"seed {seed}, step {step}"
        assert recorded > 30
    finally:
        await fast.close()
        await slow.close()
