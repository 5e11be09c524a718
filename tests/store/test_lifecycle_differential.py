"""The job lifecycle, SQLite against Redis over random sequences.

Both stores apply relay.core.jobs.attempt_effect, but each checks "delivered stays
delivered", the lease and the claim order within its own atomic step (a transaction, a
Lua script). Random sequences of claims, attempts (late ones too), releases, renewals
and re-queues run through both; after every step the jobs must be the same in both.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from relay.core.groups import GroupUpdate
from relay.core.jobs import Attempt, Job
from relay.store.base import JobQuery, Store
from relay.store.redis import RedisStore
from relay.store.sqlite import SQLiteStore
from tests.helpers.redis_server import RedisServer
from tests.store.test_contract import T0, group, new_job, put

SEEDS = range(200)
STEPS = 40
OWNERS = ("a", "b")
LEASE = 30.0


def _shape(job: Job) -> tuple[Any, ...]:
    return (
        job.status,
        [(a.outcome, a.reason, a.at) for a in job.attempts],
        job.last_error,
        job.finished_at,
        job.next_attempt_at if job.status == "pending" else None,
        job.in_log_status("retrying"),
    )


async def _jobs(store: Store, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    found = {}
    for job_id in ids:
        job = await store.get_job(job_id)
        assert job is not None
        found[job_id] = _shape(job)
    return found


async def _log(store: Store, status: Any) -> list[str]:
    page = await store.query_jobs(JobQuery(status=status, limit=500))
    return sorted(job.id for job in page.jobs)


@pytest.mark.parametrize("seed", SEEDS)
async def test_both_stores_take_every_job_through_the_same_lives(
    seed: int, redis_server: RedisServer, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    stores: list[Store] = [
        SQLiteStore.from_url(f"sqlite:///{tmp_path}/relay.db"),
        RedisStore.from_url(f"{redis_server.url}?prefix=lifecycle-{seed}-{uuid.uuid4().hex}:"),
    ]
    for store in stores:
        await store.open()
    ids: list[str] = []
    held: dict[str, set[str]] = {owner: set() for owner in OWNERS}  # claimed, per owner
    now = T0
    trace: list[Any] = []
    try:
        for step in range(STEPS):
            now += rng.choice((0.5, 1.0, 5.0, LEASE + 1))
            action = rng.choice(("add", "claim", "claim", "attempt", "attempt", "late",
                                 "release", "renew", "requeue"))  # fmt: skip
            if action == "add" or not ids:
                job = new_job(f"g{step}", at=now, integration=rng.choice(("r/slack/0", "r/wecom/0")))
                job.id = f"{rng.getrandbits(64):016x}"  # the seed decides ids too: a failure replays
                for store in stores:
                    await store.apply([GroupUpdate(f"k-{job.id}", put(group(f"k-{job.id}"), job))])
                ids.append(job.id)
            elif action == "claim":
                owner = rng.choice(OWNERS)
                limit = rng.randint(1, 3)
                claimed = [
                    sorted(j.id for j in await store.claim_jobs(owner, now, limit, LEASE)) for store in stores
                ]
                assert claimed[0] == claimed[1], (seed, step, "claim", trace[-6:])
                held[owner] |= set(claimed[0])
                for other in OWNERS:  # a lease that ran out moved to the new owner
                    if other != owner:
                        held[other] -= set(claimed[0])
            elif action in ("attempt", "late"):
                owner = rng.choice(OWNERS)
                pool = sorted(held[owner]) if action == "attempt" else ids
                if not pool:
                    continue
                job_id = rng.choice(pool)
                outcome = rng.choice(("delivered", "retry", "retry", "dead"))
                attempt = Attempt(at=now, duration=0.1, outcome=outcome, reason=f"r{step}",
                                  error=rng.choice(("", f"e{step}")))  # fmt: skip
                next_at = rng.choice((None, now + rng.choice((1.0, 10.0, 100.0))))
                for store in stores:
                    job = await store.get_job(job_id)
                    assert job is not None
                    await store.record_attempt(job, attempt, next_at)
                held[owner].discard(job_id)
            elif action == "release":
                owner = rng.choice(OWNERS)
                chosen = sorted(held[owner])[: rng.randint(0, 2)]
                due = rng.choice((None, now + rng.choice((1.0, 10.0))))  # a burst's wait
                for store in stores:
                    await store.release(owner, chosen, at=due)
                held[owner] -= set(chosen)
            elif action == "renew":
                owner = rng.choice(OWNERS)
                for store in stores:
                    await store.renew(owner, sorted(held[owner]), now + LEASE)
            else:
                job_id = rng.choice(ids)
                requeued = [await store.requeue(job_id, now, by="test") for store in stores]
                assert requeued[0] == requeued[1], (seed, step, "requeue")
            trace.append((step, action, now))
            states = [await _jobs(store, ids) for store in stores]
            assert states[0] == states[1], (seed, step, action)
        for status in ("pending", "retrying", "running", "delivered", "dead"):
            logs = [await _log(store, status) for store in stores]
            assert logs[0] == logs[1], (seed, status)
        counts = [await store.job_counts() for store in stores]
        assert counts[0] == counts[1], seed
    finally:
        for store in stores:
            await store.close()
