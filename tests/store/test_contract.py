"""The Store contract, run against every backend through the Store interface only."""

from __future__ import annotations

import asyncio
from typing import Any

from relay.core.groups import GroupState, GroupUpdate, LogEntry, Transition, TransitionResult
from relay.core.jobs import JOB_STATUSES, Attempt, NewJob, new_job_id
from relay.pipeline.acks import acknowledge
from relay.store.base import Store

T0 = 1_700_000_000.0


def group(
    key: str,
    *,
    alerts: int = 1,
    next_flush_at: float | None = None,
    at: float = T0,
    resolved: int = 0,
) -> GroupState:
    """A group with ``alerts`` firing alerts and ``resolved`` resolved ones."""
    statuses = ["firing"] * alerts + ["resolved"] * resolved
    return GroupState(
        key=key,
        receiver="oncall",
        route_id="0",
        labels={"alertname": key},
        alerts={
            f"fp{i}": {"labels": {"alertname": key, "i": str(i)}, "status": status}
            for i, status in enumerate(statuses)
        },
        next_flush_at=next_flush_at,
        created_at=at,
        updated_at=at,
    )


def new_job(
    key: str = "g", *, at: float = T0, integration: str = "oncall/slack/0", receiver: str = "oncall"
) -> NewJob:
    return NewJob(
        id=new_job_id(),
        receiver=receiver,
        integration=integration,
        group_key=key,
        payload={"status": "firing", "alerts": [{"fingerprint": "fp0"}]},
        created_at=at,
    )


def put(state: GroupState | None, *jobs: NewJob) -> Transition:
    """A transition that ignores the current state and writes ``state`` plus ``jobs``."""
    return lambda _old: TransitionResult(state, list(jobs))


async def add_jobs(store: Store, *jobs: NewJob) -> list[str]:
    await store.apply([GroupUpdate(f"k-{job.id}", put(group(f"k-{job.id}"), job)) for job in jobs])
    return [job.id for job in jobs]


def attempt(outcome: Any, at: float = T0 + 1, reason: str = "", error: str = "") -> Attempt:
    return Attempt(at=at, duration=0.1, outcome=outcome, reason=reason, error=error)


# -- groups --------------------------------------------------------------------------------
async def test_apply_creates_groups_and_returns_results_in_order(store: Store) -> None:
    keys = [f"g{i}" for i in range(5)]
    results = await store.apply([GroupUpdate(k, put(group(k, alerts=i + 1))) for i, k in enumerate(keys)])
    assert [r.state.key for r in results if r.state] == keys
    for i, key in enumerate(keys):
        stored = await store.get_group(key)
        assert stored == group(key, alerts=i + 1)


async def test_apply_passes_current_state_and_updates(store: Store) -> None:
    seen: list[GroupState | None] = []

    def bump(old: GroupState | None) -> TransitionResult:
        seen.append(old)
        state = old or group("g", alerts=0)
        state.meta["n"] = state.meta.get("n", 0) + 1
        state.log["oncall/slack/0"] = LogEntry(["fp0"], [], T0)
        return TransitionResult(state)

    await store.apply([GroupUpdate("g", bump)])
    # Two updates of one key in one call: the second sees the first.
    results = await store.apply([GroupUpdate("g", bump), GroupUpdate("g", bump)])
    assert seen[0] is None
    assert [r.state.meta["n"] for r in results if r.state] == [2, 3]
    stored = await store.get_group("g")
    assert stored is not None
    assert stored.meta["n"] == 3
    assert stored.log == {"oncall/slack/0": LogEntry(["fp0"], [], T0)}


async def test_acknowledgement_is_kept_with_the_group(store: Store) -> None:
    await store.apply([GroupUpdate("g", put(group("g")))])
    await store.apply([acknowledge("g", "alice", "slack", T0 + 5, firing=["fp1", "fp0"])])
    stored = await store.get_group("g")
    assert stored is not None
    assert stored.ack == {
        "by": "alice",
        "at": T0 + 5,
        "firing": ["fp0", "fp1"],
        "via": "slack",
        "comment": "",
    }
    # A group already pruned is not brought back by a late click.
    await store.apply([acknowledge("gone", "bob", "slack", T0 + 6, firing=["fp0"])])
    assert await store.get_group("gone") is None


async def test_apply_deletes_group_when_state_is_none(store: Store) -> None:
    await store.apply([GroupUpdate("g", put(group("g")))])
    result = await store.apply([GroupUpdate("g", put(None))])
    assert result[0].state is None
    assert await store.get_group("g") is None
    assert await store.get_group("never") is None


async def test_failing_transition_fails_only_its_caller(store: Store) -> None:
    def boom(_old: GroupState | None) -> TransitionResult:
        raise ValueError("bad transition")

    outcomes = await asyncio.gather(
        store.apply([GroupUpdate("a", put(group("a"), new_job("a")))]),
        store.apply([GroupUpdate("b", put(group("b"), new_job("b"))), GroupUpdate("c", boom)]),
        store.apply([GroupUpdate("d", put(group("d")))]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ValueError)
    assert await store.get_group("a") is not None
    assert await store.get_group("d") is not None
    # The failing call is atomic: its first update and job are not kept either.
    assert await store.get_group("b") is None
    assert [j.group_key for j in await store.list_jobs()] == ["a"]


async def test_due_groups(store: Store) -> None:
    await store.apply(
        [
            GroupUpdate("late", put(group("late", next_flush_at=T0 + 20))),
            GroupUpdate("due2", put(group("due2", next_flush_at=T0 + 5))),
            GroupUpdate("due1", put(group("due1", next_flush_at=T0 + 1))),
            GroupUpdate("passthrough", put(group("passthrough", next_flush_at=None))),
        ]
    )
    assert await store.due_groups(T0 + 10) == ["due1", "due2"]
    assert await store.due_groups(T0 + 5, limit=1) == ["due1"]
    assert await store.due_groups(T0) == []
    assert set(await store.due_groups(T0 + 30)) == {"due1", "due2", "late"}


# -- jobs ----------------------------------------------------------------------------------
async def test_jobs_created_by_apply_are_claimable(store: Store) -> None:
    job = new_job("g")
    results = await store.apply([GroupUpdate("g", put(group("g"), job))])
    assert results[0].jobs == [job]
    pending = await store.get_job(job.id)
    assert pending is not None
    assert (pending.status, pending.next_attempt_at, pending.attempts) == ("pending", T0, [])

    claimed = await store.claim_jobs("w1", now=T0, limit=10, lease=30)
    assert len(claimed) == 1
    got = claimed[0]
    assert (got.id, got.receiver, got.integration, got.group_key, got.payload, got.status) == (
        job.id,
        job.receiver,
        job.integration,
        job.group_key,
        job.payload,
        "running",
    )
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status == "running"
    assert await store.get_job("no-such-job") is None


async def test_claim_respects_next_attempt_at(store: Store) -> None:
    [later] = await add_jobs(store, new_job(at=T0 + 60))
    assert await store.claim_jobs("w", now=T0, limit=10, lease=30) == []
    assert [j.id for j in await store.claim_jobs("w", now=T0 + 60, limit=10, lease=30)] == [later]


async def test_claim_limit_and_oldest_first(store: Store) -> None:
    ids = await add_jobs(store, new_job(at=T0 + 3), new_job(at=T0 + 1), new_job(at=T0 + 2))
    first = await store.claim_jobs("w", now=T0 + 10, limit=2, lease=30)
    assert [j.id for j in first] == [ids[1], ids[2]]
    second = await store.claim_jobs("w", now=T0 + 10, limit=2, lease=30)
    assert [j.id for j in second] == [ids[0]]
    assert await store.claim_jobs("w", now=T0 + 10, limit=2, lease=30) == []


async def test_claim_among_jobs_due_at_one_instant_takes_the_oldest(store: Store) -> None:
    """A retried job due at the same instant as a newer one goes first, whatever the ids
    (Redis orders a tie by id unless the script looks past it)."""
    older, newer = new_job(at=T0), new_job(at=T0 + 5)
    older.id, newer.id = "ffff-older", "0000-newer"  # the newer id sorts first
    await add_jobs(store, older, newer)
    (job,) = await store.claim_jobs("w", now=T0, limit=1, lease=30)
    await store.record_attempt(job, attempt("retry", at=T0 + 1), next_attempt_at=T0 + 5)
    (first,) = await store.claim_jobs("w", now=T0 + 10, limit=1, lease=30)
    assert first.id == older.id


async def test_claim_skips_excluded_integrations(store: Store) -> None:
    slack, wecom = await add_jobs(
        store, new_job(integration="oncall/slack/0"), new_job(integration="infra/wecom/0")
    )
    claimed = await store.claim_jobs("w", now=T0, limit=10, lease=30, exclude_integrations={"oncall/slack/0"})
    assert [j.id for j in claimed] == [wecom]
    claimed = await store.claim_jobs("w", now=T0, limit=10, lease=30)
    assert [j.id for j in claimed] == [slack]


def integrations_of(jobs: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.integration] = counts.get(job.integration, 0) + 1
    return counts


async def test_claim_per_integration_gives_each_at_most_its_share(store: Store) -> None:
    # The hanging destination's backlog is older than everything else: without a share
    # it would take the whole limit.
    stuck = await add_jobs(store, *(new_job(at=T0 + i, integration="a/webhook/0") for i in range(6)))
    fast = await add_jobs(store, *(new_job(at=T0 + 10 + i, integration="b/webhook/0") for i in range(3)))
    claimed = await store.claim_jobs("w", now=T0 + 20, limit=10, lease=30, per_integration=2)
    assert [j.id for j in claimed] == stuck[:2] + fast[:2]  # oldest first within the shares
    assert (
        await store.claim_jobs(
            "w", now=T0 + 20, limit=10, lease=30, per_integration=2, held={"a/webhook/0": 2, "b/webhook/0": 2}
        )
        == []
    )
    again = await store.claim_jobs(
        "w", now=T0 + 20, limit=10, lease=30, per_integration=2, held={"a/webhook/0": 2, "b/webhook/0": 1}
    )
    assert [j.id for j in again] == [fast[2]]  # share - held


async def test_claim_per_integration_below_share_gets_the_difference(store: Store) -> None:
    ids = await add_jobs(store, *(new_job(at=T0 + i, integration="a/webhook/0") for i in range(6)))
    claimed = await store.claim_jobs(
        "w", now=T0 + 10, limit=10, lease=30, per_integration=4, held={"a/webhook/0": 1, "gone/webhook/0": 9}
    )
    assert [j.id for j in claimed] == ids[:3]


async def test_claim_per_integration_within_the_overall_limit(store: Store) -> None:
    await add_jobs(store, *(new_job(at=T0 + i, integration=f"r{i % 3}/webhook/0") for i in range(12)))
    claimed = await store.claim_jobs("w", now=T0 + 20, limit=5, lease=30, per_integration=2)
    assert len(claimed) == 5
    assert max(integrations_of(claimed).values()) == 2
    assert [j.created_at for j in claimed] == [T0 + i for i in range(5)]


async def test_claim_per_integration_counts_leases_that_ran_out(store: Store) -> None:
    stuck = await add_jobs(store, *(new_job(at=T0 + i, integration="a/webhook/0") for i in range(5)))
    [fast] = await add_jobs(store, new_job(at=T0 + 9, integration="b/webhook/0"))
    # A replica that died held every job of the hanging destination.
    assert len(await store.claim_jobs("dead", now=T0 + 10, limit=5, lease=30)) == 5
    claimed = await store.claim_jobs("w", now=T0 + 41, limit=10, lease=30, per_integration=2)
    assert [j.id for j in claimed] == [*stuck[:2], fast]
    assert (
        await store.claim_jobs(
            "w", now=T0 + 41, limit=10, lease=30, per_integration=2, held={"a/webhook/0": 2}
        )
        == []
    )
    later = await store.claim_jobs(
        "w", now=T0 + 41, limit=10, lease=30, per_integration=3, held={"a/webhook/0": 2}
    )
    assert [j.id for j in later] == [stuck[2]]


async def test_claim_per_integration_still_skips_excluded(store: Store) -> None:
    await add_jobs(store, new_job(integration="a/webhook/0"), new_job(integration="b/webhook/0"))
    claimed = await store.claim_jobs(
        "w", now=T0, limit=10, lease=30, per_integration=5, exclude_integrations={"a/webhook/0"}
    )
    assert integrations_of(claimed) == {"b/webhook/0": 1}


async def test_lease_blocks_other_claims_until_it_expires(store: Store) -> None:
    [job_id] = await add_jobs(store, new_job())
    assert len(await store.claim_jobs("w1", now=T0, limit=10, lease=30)) == 1
    assert await store.claim_jobs("w2", now=T0 + 29, limit=10, lease=30) == []
    again = await store.claim_jobs("w2", now=T0 + 31, limit=10, lease=30)
    assert [j.id for j in again] == [job_id]
    assert await store.claim_jobs("w1", now=T0 + 32, limit=10, lease=30) == []


async def test_renew_extends_the_owners_lease_only(store: Store) -> None:
    [job_id] = await add_jobs(store, new_job())
    await store.claim_jobs("w1", now=T0, limit=10, lease=30)
    await store.renew("w2", [job_id], until=T0 + 1000)  # not the owner: no effect
    await store.renew("w1", [job_id], until=T0 + 90)
    assert await store.claim_jobs("w2", now=T0 + 60, limit=10, lease=30) == []
    assert [j.id for j in await store.claim_jobs("w2", now=T0 + 91, limit=10, lease=30)] == [job_id]
    await store.renew("w1", [], until=T0 + 1000)


async def claim_one(store: Store, now: float = T0) -> Any:
    claimed = await store.claim_jobs("w", now=now, limit=1, lease=30)
    assert len(claimed) == 1
    return claimed[0]


async def test_record_attempt_delivered(store: Store) -> None:
    await add_jobs(store, new_job())
    job = await claim_one(store)
    await store.record_attempt(job, attempt("delivered", at=T0 + 2, reason="ok"))
    stored = await store.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.finished_at, stored.last_error) == ("delivered", T0 + 2, "")
    assert stored.attempts == [attempt("delivered", at=T0 + 2, reason="ok")]
    assert await store.claim_jobs("w", now=T0 + 1000, limit=10, lease=30) == []


async def test_record_attempt_retry(store: Store) -> None:
    await add_jobs(store, new_job())
    job = await claim_one(store)
    failed = attempt("retry", at=T0 + 1, reason="http_503", error="503 Service Unavailable")
    await store.record_attempt(job, failed, next_attempt_at=T0 + 20)
    stored = await store.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.next_attempt_at, stored.finished_at) == ("pending", T0 + 20, None)
    assert stored.last_error == "503 Service Unavailable"
    assert stored.attempts == [failed]
    # The lease is released but the job is not due before next_attempt_at.
    assert await store.claim_jobs("w", now=T0 + 19, limit=10, lease=30) == []
    job = await claim_one(store, now=T0 + 20)
    await store.record_attempt(job, attempt("delivered", at=T0 + 21))
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status == "delivered" and len(stored.attempts) == 2


async def test_record_attempt_dead(store: Store) -> None:
    await add_jobs(store, new_job(), new_job())
    job = await claim_one(store)
    await store.record_attempt(job, attempt("dead", at=T0 + 3, reason="http_404", error="not found"))
    stored = await store.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.finished_at, stored.last_error) == ("dead", T0 + 3, "not found")

    other = await claim_one(store)
    await store.record_attempt(other, attempt("dead", at=T0 + 4, reason="invalid_key"))
    stored = await store.get_job(other.id)
    assert stored is not None and stored.last_error == "invalid_key"


async def test_release_returns_jobs_unattempted(store: Store) -> None:
    [job_id] = await add_jobs(store, new_job())
    await claim_one(store)
    await store.release("someone-else", [job_id])  # not the owner: no effect
    assert await store.claim_jobs("w2", now=T0 + 1, limit=10, lease=30) == []
    await store.release("w", [job_id])
    stored = await store.get_job(job_id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", [], T0)
    assert [j.id for j in await store.claim_jobs("w2", now=T0 + 1, limit=10, lease=30)] == [job_id]
    await store.release("w", [])


async def test_release_until_a_time_keeps_the_job_until_then(store: Store) -> None:
    # A burst's notification waits for its digest (relay.pipeline.storm): given back due later.
    first, second = await add_jobs(store, new_job(), new_job())
    claimed = await store.claim_jobs("w", now=T0, limit=10, lease=30)
    assert {j.id for j in claimed} == {first, second}
    await store.release("w", [first], at=T0 + 10)
    await store.release("someone-else", [second], at=T0 + 10)  # not the owner: no effect
    stored = await store.get_job(first)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", [], T0 + 10)
    assert stored.created_at == T0  # how the dispatcher tells it waited (waited_for_digest)
    assert await store.count_due(new_job().integration, T0 + 9) == 0
    assert await store.claim_jobs("w2", now=T0 + 9.9, limit=10, lease=1) == []
    assert await store.count_due(new_job().integration, T0 + 10) == 1
    again = await store.claim_jobs("w2", now=T0 + 10, limit=10, lease=30)
    assert [j.id for j in again] == [first] and again[0].next_attempt_at == T0 + 10


async def test_requeue_only_dead_jobs(store: Store) -> None:
    [job_id] = await add_jobs(store, new_job())
    assert await store.requeue(job_id, now=T0 + 5) is False  # pending
    assert await store.requeue("no-such-job", now=T0 + 5) is False
    job = await claim_one(store)
    assert await store.requeue(job_id, now=T0 + 5) is False  # running
    await store.record_attempt(job, attempt("dead", at=T0 + 2, reason="http_400", error="bad"))

    assert await store.requeue(job_id, now=T0 + 100) is True
    stored = await store.get_job(job_id)
    assert stored is not None
    assert (stored.status, stored.next_attempt_at, stored.finished_at) == (
        "pending",
        T0 + 100,
        None,
    )
    assert stored.created_at == T0
    # The dispatcher restarts the retry window at the latest "requeued" attempt.
    assert (stored.attempts[-1].reason, stored.attempts[-1].at) == ("requeued", T0 + 100)
    assert await store.requeue(job_id, now=T0 + 101) is False
    assert await store.claim_jobs("w", now=T0 + 99, limit=10, lease=30) == []
    assert [j.id for j in await store.claim_jobs("w", now=T0 + 100, limit=10, lease=30)] == [job_id]


async def test_list_jobs_filters_and_newest_first(store: Store) -> None:
    ids = await add_jobs(
        store,
        new_job(at=T0 + 1, receiver="oncall"),
        new_job(at=T0 + 2, receiver="infra", integration="infra/wecom/0"),
        new_job(at=T0 + 3, receiver="oncall"),
    )
    job = await claim_one(store, now=T0 + 1)
    await store.record_attempt(job, attempt("dead", reason="http_400"))

    assert [j.id for j in await store.list_jobs()] == ids[::-1]
    assert [j.id for j in await store.list_jobs(limit=2)] == [ids[2], ids[1]]
    assert [j.id for j in await store.list_jobs(receiver="oncall")] == [ids[2], ids[0]]
    assert [j.id for j in await store.list_jobs(status="dead")] == [ids[0]]
    assert [j.id for j in await store.list_jobs(status="pending", receiver="oncall")] == [ids[2]]
    assert await store.list_jobs(status="delivered") == []
    dead = (await store.list_jobs(status="dead"))[0]
    assert dead.attempts and dead.last_error == "http_400"


async def test_job_counts(store: Store) -> None:
    assert await store.job_counts() == dict.fromkeys(JOB_STATUSES, 0)
    await add_jobs(store, *(new_job(at=T0 + i) for i in range(5)))
    delivered, dead, _running = await store.claim_jobs("w", now=T0 + 10, limit=3, lease=30)
    await store.record_attempt(delivered, attempt("delivered"))
    await store.record_attempt(dead, attempt("dead"))
    assert await store.job_counts() == {"pending": 2, "running": 1, "delivered": 1, "dead": 1}


async def test_prune(store: Store) -> None:
    day = 86400.0
    now = T0 + 10 * day
    old_delivered, new_delivered, old_dead, old_pending = await add_jobs(
        store, new_job(at=T0), new_job(at=T0 + 1), new_job(at=T0 + 2), new_job(at=T0 + 3)
    )
    for job in await store.claim_jobs("w", now=T0 + 2, limit=3, lease=30):
        if job.id == old_delivered:
            await store.record_attempt(job, attempt("delivered", at=T0 + 5))
        elif job.id == new_delivered:
            await store.record_attempt(job, attempt("delivered", at=now - 60))
        else:
            await store.record_attempt(job, attempt("dead", at=T0 + 5))
    await store.apply(
        [
            GroupUpdate("empty-old", put(group("empty-old", alerts=0, at=T0))),
            GroupUpdate("empty-new", put(group("empty-new", alerts=0, at=now - 60))),
            GroupUpdate("full-old", put(group("full-old", alerts=2, at=T0))),
            # Alertmanager's pass-through groups keep their resolved alerts.
            GroupUpdate("resolved-old", put(group("resolved-old", alerts=0, resolved=2, at=T0))),
            GroupUpdate("resolved-new", put(group("resolved-new", alerts=0, resolved=2, at=now - 60))),
            GroupUpdate("mixed-old", put(group("mixed-old", alerts=1, resolved=1, at=T0))),
            # Its "resolved" notification is still to be delivered: keep its log.
            GroupUpdate(
                "resolved-old-pending",
                put(
                    group("resolved-old-pending", alerts=0, resolved=1, at=T0),
                    new_job("resolved-old-pending", at=T0),
                ),
            ),
        ]
    )

    removed = await store.prune(now, job_retention=day, group_retention=day)
    assert removed >= 3  # the old delivered job, the old empty and resolved groups (plus extras)
    assert await store.get_job(old_delivered) is None
    for kept in (new_delivered, old_dead, old_pending):
        assert await store.get_job(kept) is not None
    for gone in ("empty-old", "resolved-old"):
        assert await store.get_group(gone) is None, gone
    for kept_group in ("empty-new", "full-old", "resolved-new", "mixed-old", "resolved-old-pending"):
        assert await store.get_group(kept_group) is not None, kept_group


async def test_a_group_changed_from_firing_to_resolved_is_pruned(store: Store) -> None:
    day = 86400.0
    await store.apply([GroupUpdate("g", put(group("g", alerts=2, at=T0)))])
    await store.apply([GroupUpdate("g", put(group("g", alerts=0, resolved=2, at=T0 + 1)))])
    assert await store.prune(T0 + 3 * day, job_retention=day, group_retention=day) >= 1
    assert await store.get_group("g") is None
    # Firing again after that: the other way round, it is kept.
    await store.apply([GroupUpdate("g", put(group("g", alerts=0, resolved=1, at=T0)))])
    await store.apply([GroupUpdate("g", put(group("g", alerts=1, at=T0 + 1)))])
    await store.prune(T0 + 3 * day, job_retention=day, group_retention=day)
    assert await store.get_group("g") is not None


async def test_refs_with_ttl(store: Store) -> None:
    assert await store.get_ref("slack:g") is None
    await store.set_ref("slack:g", {"ts": "1712.0001", "channel": "C1"}, ttl=3600)
    assert await store.get_ref("slack:g") == {"ts": "1712.0001", "channel": "C1"}
    await store.set_ref("slack:g", {"ts": "2"}, ttl=3600)
    assert await store.get_ref("slack:g") == {"ts": "2"}

    await store.set_ref("short", {"ts": "3"}, ttl=0.2)
    assert await store.get_ref("short") == {"ts": "3"}
    await asyncio.sleep(0.3)
    assert await store.get_ref("short") is None
    assert await store.get_ref("slack:g") == {"ts": "2"}


async def test_add_ref_stores_once_until_it_expires(store: Store) -> None:
    assert await store.add_ref("click:abc", {"at": 1}, ttl=0.3)
    assert not await store.add_ref("click:abc", {"at": 2}, ttl=0.3)
    assert await store.get_ref("click:abc") == {"at": 1}
    # Many at once (replicas racing on one replayed request): exactly one stores it.
    results = await asyncio.gather(*(store.add_ref("click:race", {"n": n}, ttl=60) for n in range(20)))
    assert results.count(True) == 1
    await asyncio.sleep(0.4)
    assert await store.add_ref("click:abc", {"at": 3}, ttl=60)  # expired: free again
    assert await store.get_ref("click:abc") == {"at": 3}


async def test_ping(store: Store) -> None:
    await store.ping()
    assert store.describe()


# -- concurrency ---------------------------------------------------------------------------
async def test_concurrent_applies_are_atomic(store: Store) -> None:
    def increment(old: GroupState | None) -> TransitionResult:
        state = old or group("counter", alerts=0)
        state.meta["counter"] = state.meta.get("counter", 0) + 1
        return TransitionResult(state)

    await asyncio.gather(*(store.apply([GroupUpdate("counter", increment)]) for _ in range(50)))
    stored = await store.get_group("counter")
    assert stored is not None and stored.meta["counter"] == 50


async def test_identical_racing_transitions_create_one_job(store: Store) -> None:
    integration = "oncall/slack/0"

    def notify_once(old: GroupState | None) -> TransitionResult:
        state = old or group("g")
        if integration in state.log:
            return TransitionResult(state, suppressed=[("oncall", "already_notified")])
        state.log[integration] = LogEntry(sorted(state.alerts), [], T0)
        return TransitionResult(state, [new_job("g", integration=integration)])

    results = await asyncio.gather(
        store.apply([GroupUpdate("g", notify_once)]), store.apply([GroupUpdate("g", notify_once)])
    )
    assert sorted(len(r[0].jobs) for r in results) == [0, 1]
    assert len(await store.list_jobs()) == 1


async def test_apply_nothing(store: Store) -> None:
    assert await store.apply([]) == []


# -- storm digests -------------------------------------------------------------------------


async def test_storm_counts_and_claims_one_integration(store: Store) -> None:
    jobs = [new_job(f"g{i}", integration="oncall/wecom/0") for i in range(5)]
    other = new_job("x", integration="oncall/slack/0")
    await store.apply([GroupUpdate(j.group_key, put(group(j.group_key), j)) for j in [*jobs, other]])
    assert await store.count_due("oncall/wecom/0", T0) == 5
    assert await store.count_due("oncall/wecom/0", T0 - 1) == 0
    claimed = await store.claim_integration("me", "oncall/wecom/0", T0, 3, 60.0)
    assert len(claimed) == 3 and {j.id for j in claimed} <= {j.id for j in jobs}
    assert all(j.integration == "oncall/wecom/0" and j.status == "running" for j in claimed)
    assert await store.count_due("oncall/wecom/0", T0) == 2
    assert await store.count_due("oncall/slack/0", T0) == 1


async def test_merge_into_digest_is_all_or_nothing(store: Store) -> None:
    jobs = [new_job(f"g{i}", integration="oncall/wecom/0") for i in range(4)]
    await store.apply([GroupUpdate(j.group_key, put(group(j.group_key), j)) for j in jobs])
    mine = await store.claim_integration("me", "oncall/wecom/0", T0, 4, 60.0)
    digest = NewJob(
        id=new_job_id(),
        receiver="oncall",
        integration="oncall/wecom/0",
        group_key="storm-digest|oncall/wecom/0",
        payload={"digest": {"kind": "storm", "entries": []}},
        created_at=T0,
    )
    # A lease that ran out and went to another replica: nothing is written.
    await store.renew("me", [j.id for j in mine[1:]], T0 + 200)
    taken = await store.claim_jobs("other", T0 + 61, 10, 60.0)
    assert [j.id for j in taken] == [mine[0].id]
    assert not await store.merge_into_digest("me", digest, [j.id for j in mine], T0 + 61)
    assert await store.get_job(digest.id) is None
    for job in mine:
        stored = await store.get_job(job.id)
        assert stored is not None and stored.status == "running" and stored.digest_id is None

    # Leases still held: every merged job is delivered as part of the digest, which is due.
    rest = [j.id for j in mine[1:]]
    assert await store.merge_into_digest("me", digest, rest, T0 + 61)
    for job_id in rest:
        job = await store.get_job(job_id)
        assert job is not None and job.status == "delivered" and job.digest_id == digest.id
        assert job.attempts[-1].reason == "digest" and job.to_api()["digest_id"] == digest.id
    queued = await store.claim_jobs("me", T0 + 61, 10, 60.0)
    assert [j.id for j in queued] == [digest.id]
    assert queued[0].to_api()["digest"]["kind"] == "storm"
    counts = await store.job_counts()
    assert counts["delivered"] == 3 and counts["running"] == 2


async def test_oncall_overrides_are_kept_listed_and_removed(store: Store) -> None:
    first = {"id": "o1", "schedule": "sre", "person": "lisi", "start": T0, "end": T0 + 3600, "by": "ops"}
    second = {"id": "o2", "schedule": "sre", "person": "wangwu", "start": T0 + 10, "end": T0 + 20, "by": "x"}
    other = {"id": "o3", "schedule": "db", "person": "zhaoliu", "start": T0, "end": T0 + 5 * 86400, "by": "y"}
    for n, override in enumerate([first, second, other]):
        await store.add_override({**override, "created_at": T0 + n})
    assert [o["id"] for o in await store.list_overrides("sre")] == ["o1", "o2"]
    assert [o["id"] for o in await store.list_overrides()] == ["o1", "o2", "o3"]
    assert (await store.list_overrides("sre"))[0]["person"] == "lisi"
    assert not await store.delete_override("db", "o1")  # another schedule's id
    assert await store.delete_override("sre", "o1")
    assert not await store.delete_override("sre", "o1")
    assert [o["id"] for o in await store.list_overrides()] == ["o2", "o3"]
    # Ended more than group_retention ago: pruned; the rest stays.
    await store.prune(T0 + 3 * 86400, job_retention=86400, group_retention=86400)
    assert [o["id"] for o in await store.list_overrides()] == ["o3"]


async def test_an_incident_is_kept_when_it_changes_and_outlives_its_group(store: Store) -> None:
    from relay.core.timeline import new_incident

    state = group("inc")
    state.incident = new_incident(state, T0)
    await store.apply([GroupUpdate("inc", put(state))])
    acked = group("inc")
    acked.incident = {**state.incident, "acknowledged_at": T0 + 60, "acknowledged_by": "lisi"}
    await store.apply([GroupUpdate("inc", put(acked))])
    later = group("later", at=T0 + 100)
    later.incident = new_incident(later, T0 + 100)
    await store.apply([GroupUpdate("later", put(later))])
    found = await store.list_incidents(T0, 10)
    assert [i["group_key"] for i in found] == ["later", "inc"]  # newest first
    assert found[1]["acknowledged_at"] == T0 + 60 and found[1]["acknowledged_by"] == "lisi"
    assert [i["group_key"] for i in await store.list_incidents(T0 + 1, 10)] == ["later"]
    assert len(await store.list_incidents(T0, 1)) == 1
    # The group goes; its incident stays until storage.retention has passed.
    await store.apply([GroupUpdate("inc", put(None))])
    assert len(await store.list_incidents(T0, 10)) == 2
    await store.prune(T0 + 50 + 86400, job_retention=86400, group_retention=10)
    assert [i["group_key"] for i in await store.list_incidents(0, 10)] == ["later"]
