"""Redis specifics: URLs, passwords and TLS, outages as StoreUnavailable and reconnecting,
commit conflicts between replicas, the stream's consumer group as the record of leases."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis

import relay.store.redis.retention as redis_module  # where pruning reads PRUNE_BATCH
from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, LogEntry, TransitionResult
from relay.core.jobs import Attempt, NewJob
from relay.store import open_store
from relay.store.base import JobQuery
from relay.store.redis import SCHEMA_VERSION, RedisStore
from tests.conftest import require_binary
from tests.helpers.process import free_port
from tests.helpers.redis_server import RedisServer
from tests.helpers.tls import self_signed
from tests.store.test_contract import T0, add_jobs, group, new_job, put

_prefixes = itertools.count()


def unique_prefix() -> str:
    return f"r{next(_prefixes)}:"


@pytest.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two stores on one Redis and one prefix, each with its own connections: two replicas."""
    url = f"{redis_server.url}?prefix={unique_prefix()}"
    a, b = RedisStore.from_url(url), RedisStore.from_url(url)
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


# -- URLs -----------------------------------------------------------------------------------
def test_from_url_reads_prefix_and_options() -> None:
    store = RedisStore.from_url(
        "rediss://:s3cret@redis.example:6380/2?prefix=team-a:&socket_timeout=1.5&ssl_ca_certs=/etc/ca.pem"
    )
    assert store.prefix == "team-a:"
    assert store.url == "rediss://:s3cret@redis.example:6380/2"
    assert store.describe() == "rediss://:***@redis.example:6380/2 (prefix 'team-a:')"
    assert "s3cret" not in store.describe()
    assert RedisStore.from_url("redis://localhost").prefix == "relay:"
    assert isinstance(open_store("redis://127.0.0.1:6379/0"), RedisStore)
    assert isinstance(open_store("unix:///run/redis.sock?db=1"), RedisStore)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://h:6379/0?prefx=a", "unknown option 'prefx'"),
        ("redis://h:6379/zero", "the database must be a number"),
        ("redis://h:port/0", "the port is not a number"),
        ("redis:///0", "a host is required"),
        ("redis://h/0?socket_timeout=soon", "bad value for socket_timeout"),
        ("redis://:pw@h/0?nope=1", "storage.url 'redis://:***@h/0?nope=1'"),
    ],
)
def test_from_url_names_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("?", r"\?").replace("*", r"\*")):
        RedisStore.from_url(url)


async def test_password_from_the_url(tmp_path: Path) -> None:
    with RedisServer(binary=require_binary("redis-server"), args=["--requirepass", "s3cret"]) as server:
        good = RedisStore.from_url(server.url.replace("redis://", "redis://:s3cret@"))
        await good.open()
        try:
            await add_jobs(good, new_job())
            assert (await good.job_counts())["pending"] == 1
        finally:
            await good.close()
        bad = RedisStore.from_url(server.url.replace("redis://", "redis://:wrong@"))
        with pytest.raises(StoreUnavailable) as caught:
            await bad.open()
        assert "wrong" not in str(caught.value)
        assert f"127.0.0.1:{server.port}" in str(caught.value)


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    return self_signed(require_binary("openssl"), tmp_path)


async def test_tls_with_rediss(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    # The helper's plain port stays for its readiness PING; TLS listens on a port of its own.
    tls_port = free_port()
    server = RedisServer(
        binary=require_binary("redis-server"),
        args=[
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
        ],
    )
    with server:
        store = RedisStore.from_url(f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}")
        await store.open()
        try:
            await store.set_ref("slack:g", {"ts": "1"}, ttl=60)
            assert await store.get_ref("slack:g") == {"ts": "1"}
        finally:
            await store.close()
        untrusted = RedisStore.from_url(f"rediss://127.0.0.1:{tls_port}/0")
        with pytest.raises(StoreUnavailable, match="certificate"):
            await untrusted.open()


# -- outages --------------------------------------------------------------------------------
async def test_outage_is_store_unavailable_and_the_store_reconnects() -> None:
    server = RedisServer(binary=require_binary("redis-server"), appendonly=True)
    with server:
        store = RedisStore.from_url(server.url)
        await store.open()
        try:
            [job_id] = await add_jobs(store, new_job())
            server.stop()
            calls: list[Any] = [
                store.ping(),
                store.apply([GroupUpdate("g", put(group("g")))]),
                store.claim_jobs("w", now=T0, limit=10, lease=30),
                store.get_job(job_id),
                store.list_jobs(),
                store.job_counts(),
                store.get_ref("x"),
                store.prune(T0, 1, 1),
            ]
            for call in calls:
                with pytest.raises(StoreUnavailable, match=f"redis redis://127.0.0.1:{server.port}/0"):
                    await asyncio.wait_for(call, timeout=5)
            server.start()  # same port, same append-only file
            await store.ping()  # the same store object, no reopen
            assert [j.id for j in await store.claim_jobs("w", now=T0, limit=10, lease=30)] == [job_id]
        finally:
            await store.close()


async def test_relay_may_start_before_redis() -> None:
    server = RedisServer(binary=require_binary("redis-server"))
    store = RedisStore.from_url(server.url)
    try:
        await store.open()  # nothing listens yet: opens anyway, not ready
        with pytest.raises(StoreUnavailable, match=r"connecting to 127\.0\.0\.1"):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await add_jobs(store, new_job())
        server.start()
        await store.ping()
        await add_jobs(store, new_job())
        assert (await store.job_counts())["pending"] == 1
    finally:
        await store.close()
        server.cleanup()


async def test_closed_store_is_unavailable(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url)
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.ping()


async def test_newer_data_layout_is_refused(redis_server: RedisServer, raw: aioredis.Redis) -> None:
    prefix = unique_prefix()
    await raw.set(f"{prefix}schema", 99)
    store = RedisStore.from_url(f"{redis_server.url}?prefix={prefix}")
    with pytest.raises(StoreUnavailable, match="layout version 99 is newer"):
        await store.open()


async def test_a_layout_1_key_space_is_upgraded_and_its_resolved_groups_pruned(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    prefix = unique_prefix()
    # What layout 1 wrote: groups without alerts in groups:empty, resolved ones nowhere.
    await raw.set(f"{prefix}schema", 1)
    for state in (
        group("resolved", alerts=0, resolved=2),
        group("firing", alerts=1, resolved=1),
        group("empty", alerts=0),
    ):
        await raw.set(f"{prefix}g:{state.key}", orjson.dumps(state.to_dict()))
    await raw.zadd(f"{prefix}groups:empty", {"empty": T0})
    store = RedisStore.from_url(f"{redis_server.url}?prefix={prefix}")
    await store.open()
    try:
        assert await raw.get(f"{prefix}schema") == str(SCHEMA_VERSION)
        assert not await raw.exists(f"{prefix}groups:empty")
        assert await store.prune(T0 + 86400, job_retention=60, group_retention=60) == 2
        assert await store.get_group("resolved") is None and await store.get_group("empty") is None
        assert await store.get_group("firing") is not None
    finally:
        await store.close()


async def test_a_layout_2_key_space_is_upgraded_to_3_with_its_data_intact(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    """Layout 2 -> 3: the console's indexes for jobs and groups already stored (a job
    merged into a storm digest keeps its digest_id), nothing else changed."""
    prefix = unique_prefix()
    await raw.set(f"{prefix}schema", 2)
    failed = {
        "at": T0 + 5,
        "duration": 0.2,
        "outcome": "retry",
        "reason": "http_503",
        "error": "busy",
        "detail": "",
    }
    # id, integration, status, attempts, alertnames, digest_id
    rows = [
        ("pending", "oncall/wecom/0", "pending", [], ["Disk"], ""),
        ("retrying", "oncall/wecom/0", "pending", [failed], ["Disk", "Memory"], ""),
        ("merged", "oncall/wecom/0", "delivered", [{**failed, "reason": "digest"}], ["Memory"], "pending"),
        ("dead", "db/email/0", "dead", [{**failed, "outcome": "dead"}], [], ""),
    ]
    for key, receiver in (("g-oncall", "oncall"), ("g-db", "db")):
        state = GroupState(
            key=key,
            receiver=receiver,
            route_id="0",
            labels={},
            updated_at=T0,
            alerts={"fp": {"status": "firing"}},
        )
        await raw.set(f"{prefix}g:{key}", orjson.dumps(state.to_dict()))
    for i, (job_id, integration, status, attempts, names, digest_id) in enumerate(rows):
        receiver, created = integration.split("/")[0], repr(T0 + i)
        payload = {"status": "firing", "alerts": [{"labels": {"alertname": n}} for n in names]}
        # The fields and indexes layout 2 wrote (apply, record_attempt, merge_into_digest).
        await raw.hset(
            f"{prefix}j:{job_id}",
            mapping={
                "id": job_id,
                "receiver": receiver,
                "integration": integration,
                "group_key": f"g-{receiver}",
                "payload": orjson.dumps(payload),
                "status": status,
                "created_at": created,
                "next_attempt_at": created,
                "attempts": orjson.dumps(attempts),
                "last_error": "busy" if status != "delivered" and attempts else "",
                "finished_at": repr(T0 + 9) if status in ("delivered", "dead") else "",
                "owner": "",
                "lease_until": "",
                "entry": "",
                **({"digest_id": digest_id} if digest_id else {}),
            },
        )
        await raw.zadd(f"{prefix}jobs:all", {job_id: T0 + i})
        await raw.zadd(f"{prefix}jobs:status:{status}", {job_id: T0 + i})
        await raw.zadd(f"{prefix}jobs:receiver:{receiver}", {job_id: T0 + i})
        if status == "pending":
            await raw.zadd(f"{prefix}due:{integration}", {job_id: T0 + i})
            await raw.sadd(f"{prefix}integrations", integration)
        if status == "delivered":
            await raw.zadd(f"{prefix}finished", {job_id: T0 + 9})

    store = RedisStore.from_url(f"{redis_server.url}?prefix={prefix}")
    await store.open()
    try:
        assert await raw.get(f"{prefix}schema") == "3"
        for i, (job_id, integration, status, attempts, names, digest_id) in enumerate(rows):
            job = await store.get_job(job_id)
            assert job is not None
            assert (job.integration, job.status, job.created_at) == (integration, status, T0 + i)
            assert [a.to_dict() for a in job.attempts] == [{**a, "sent": []} for a in attempts]
            assert job.payload["alerts"] == [{"labels": {"alertname": n}} for n in names]
            assert (job.digest_id, job.actions) == (digest_id or None, [])
        memory = await store.query_jobs(JobQuery(alertname="Memory"))
        assert [j.id for j in memory.jobs] == ["merged", "retrying"]
        retrying = await store.query_jobs(JobQuery(status="retrying"))
        assert [j.id for j in retrying.jobs] == ["retrying"]
        wecom = await store.query_jobs(JobQuery(integration="oncall/wecom/0", group_key="g-oncall"))
        assert [j.id for j in wecom.jobs] == ["merged", "retrying", "pending"]
        groups, _ = await store.list_groups(None, 10, receiver="db")
        assert [g.key for g in groups] == ["g-db"]
        stats = await store.integration_stats(T0 + 10)
        assert (stats["oncall/wecom/0"].queue, stats["oncall/wecom/0"].oldest_queued_at) == (2, T0)
        assert stats["db/email/0"].dead == 1
        assert await store.job_counts() == {"pending": 2, "running": 0, "delivered": 1, "dead": 1}
        # Pruning the merged job takes it out of the new indexes as well.
        assert await store.prune(T0 + 86400, job_retention=60, group_retention=10**9) == 1
        memory = await store.query_jobs(JobQuery(alertname="Memory"))
        assert [j.id for j in memory.jobs] == ["retrying"]
    finally:
        await store.close()


# -- apply across replicas --------------------------------------------------------------------
async def test_a_commit_between_read_and_write_makes_the_transition_run_again(
    redis_server: RedisServer, replicas: tuple[RedisStore, RedisStore]
) -> None:
    store, _ = replicas
    other = redis.Redis.from_url(redis_server.url, decode_responses=True)  # another replica
    calls: list[int] = []

    def bump(old: GroupState | None) -> TransitionResult:
        calls.append(old.meta.get("n", 0) if old else -1)
        if len(calls) <= 2:
            # Another replica commits after this run read the group and before its commit:
            # the commit finds the group changed, writes nothing, and the transition runs
            # again on what the other replica committed.
            racing = group("g")
            racing.meta["n"] = 5 * len(calls)
            other.set(f"{store.prefix}g:g", orjson.dumps(racing.to_dict()).decode())
        state = old or group("g")
        state.meta["n"] = state.meta.get("n", 0) + 1
        return TransitionResult(state)

    try:
        [result] = await store.apply([GroupUpdate("g", bump)])
    finally:
        other.close()
    assert calls == [-1, 5, 10]  # each run saw what was committed before it
    assert result.state is not None and result.state.meta["n"] == 11
    stored = await store.get_group("g")
    assert stored is not None and stored.meta["n"] == 11


async def test_two_replicas_racing_on_the_same_groups_create_one_job_each(
    replicas: tuple[RedisStore, RedisStore],
) -> None:
    a, b = replicas
    integration = "oncall/slack/0"
    runs = 0

    def notify_once(key: str) -> GroupUpdate:
        def transition(old: GroupState | None) -> TransitionResult:
            nonlocal runs
            runs += 1
            state = old or group(key)
            if integration in state.log:
                return TransitionResult(state, changed=False)
            state.log[integration] = LogEntry(sorted(state.alerts), [], T0)
            return TransitionResult(state, [new_job(key, integration=integration)])

        return GroupUpdate(key, transition)

    keys = [f"g{i}" for i in range(40)]
    # Each replica gets every webhook, as behind an Alertmanager HA pair; several per call.
    calls = [
        store.apply([notify_once(k) for k in keys[i : i + 4]])
        for i in range(0, len(keys), 4)
        for store in (a, b)
    ]
    results = await asyncio.gather(*calls)
    created = sorted(job.group_key for batch in results for r in batch for job in r.jobs)
    assert created == sorted(keys)
    stored = await a.list_jobs(limit=1000)
    assert sorted(j.group_key for j in stored) == sorted(keys)
    assert runs >= 2 * len(keys)


# -- the stream ---------------------------------------------------------------------------------
async def pending_by_consumer(raw: aioredis.Redis, store: RedisStore) -> dict[str, int]:
    info = await raw.xpending(f"{store.prefix}stream", "relay")
    return {c["name"]: int(c["pending"]) for c in info["consumers"]}


async def test_the_consumer_group_records_who_holds_each_job(
    replicas: tuple[RedisStore, RedisStore], raw: aioredis.Redis
) -> None:
    store, other = replicas
    ids = await add_jobs(store, new_job(at=T0), new_job(at=T0 + 1))
    first = await store.claim_jobs("replica-a", now=T0 + 1, limit=10, lease=30)
    assert [j.id for j in first] == ids
    assert await pending_by_consumer(raw, store) == {"replica-a": 2}

    await store.renew("replica-a", [ids[0]], until=T0 + 100)
    # replica-a died: the lease of the job it did not renew runs out and replica-b takes it.
    taken = await other.claim_jobs("replica-b", now=T0 + 40, limit=10, lease=30)
    assert [j.id for j in taken] == [ids[1]]
    assert taken[0].handle == "replica-b"
    assert await pending_by_consumer(raw, store) == {"replica-a": 1, "replica-b": 1}
    detail = await raw.xpending_range(f"{store.prefix}stream", "relay", "-", "+", 10, "replica-b")
    assert detail[0]["times_delivered"] == 2

    done = Attempt(at=T0 + 41, duration=0.1, outcome="delivered", reason="ok")
    await other.record_attempt(taken[0], done)
    await store.record_attempt(first[0], done)
    assert await pending_by_consumer(raw, store) == {}
    assert await raw.xlen(f"{store.prefix}stream") == 0  # finished entries are deleted


async def test_released_and_retried_jobs_leave_the_stream(
    replicas: tuple[RedisStore, RedisStore], raw: aioredis.Redis
) -> None:
    store, _ = replicas
    [released, retried] = await add_jobs(store, new_job(at=T0), new_job(at=T0 + 1))
    jobs = await store.claim_jobs("w", now=T0 + 1, limit=10, lease=30)
    await store.release("w", [released])
    await store.record_attempt(
        jobs[1], Attempt(at=T0 + 2, duration=0.1, outcome="retry", reason="http_503"), T0 + 9
    )
    assert await pending_by_consumer(raw, store) == {}
    assert await raw.xlen(f"{store.prefix}stream") == 0
    assert [j.id for j in await store.claim_jobs("w", now=T0 + 9, limit=10, lease=30)] == [
        released,
        retried,
    ]


async def test_orphan_stream_entries_are_dropped(
    replicas: tuple[RedisStore, RedisStore], raw: aioredis.Redis
) -> None:
    store, _ = replicas
    [job_id] = await add_jobs(store, new_job())
    await raw.xgroup_create(f"{store.prefix}stream", "relay", id="0", mkstream=True)
    await raw.xadd(f"{store.prefix}stream", {"job": "not-a-job"})
    claimed = await store.claim_jobs("w", now=T0, limit=10, lease=30)
    assert [j.id for j in claimed] == [job_id]
    entries = await raw.xrange(f"{store.prefix}stream")
    assert [e[1]["job"] for e in entries] == [job_id]
    assert await pending_by_consumer(raw, store) == {"w": 1}


# -- data -----------------------------------------------------------------------------------
async def test_times_keep_full_precision(replicas: tuple[RedisStore, RedisStore]) -> None:
    store, _ = replicas
    at = T0 + 0.123456789
    job = NewJob("precise", "oncall", "oncall/slack/0", "g", {"alerts": []}, at)
    await store.apply([GroupUpdate("g", put(group("g"), job))])
    [claimed] = await store.claim_jobs("w", now=at, limit=1, lease=30.000001)
    await store.record_attempt(
        claimed, Attempt(at=at + 1, duration=0.1, outcome="retry", reason="x"), at + 7.000001
    )
    stored = await store.get_job("precise")
    assert stored is not None
    assert (stored.created_at, stored.next_attempt_at) == (at, at + 7.000001)
    assert stored.attempts[0].at == at + 1


async def test_prefixes_keep_installations_apart(redis_server: RedisServer) -> None:
    one = RedisStore.from_url(f"{redis_server.url}?prefix={unique_prefix()}")
    two = RedisStore.from_url(f"{redis_server.url}?prefix={unique_prefix()}")
    await one.open()
    await two.open()
    try:
        await add_jobs(one, new_job())
        await one.set_ref("k", {"ts": "1"}, ttl=60)
        assert (await one.job_counts())["pending"] == 1
        assert (await two.job_counts())["pending"] == 0
        assert await two.claim_jobs("w", now=T0, limit=10, lease=30) == []
        assert await two.get_ref("k") is None
    finally:
        await one.close()
        await two.close()


async def test_prune_works_in_batches(replicas: tuple[RedisStore, RedisStore]) -> None:
    store, _ = replicas
    ids = await add_jobs(store, *(new_job(at=T0) for _ in range(7)))
    for job in await store.claim_jobs("w", now=T0, limit=10, lease=30):
        await store.record_attempt(job, Attempt(at=T0 + 1, duration=0.1, outcome="delivered"))
    original = redis_module.PRUNE_BATCH
    redis_module.PRUNE_BATCH = 3
    try:
        removed = await store.prune(T0 + 1000, job_retention=10, group_retention=1e9)
    finally:
        redis_module.PRUNE_BATCH = original
    assert removed == 7
    assert all([await store.get_job(i) is None for i in ids])
    assert await store.list_jobs(receiver="oncall") == []


async def test_a_redis_without_persistence_is_named_at_start(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore.from_url(f"{redis_server.url}?prefix={unique_prefix()}")
    await store.open()  # the session's server runs with --save "" and no appendonly
    await store.close()
    assert any("has no persistence" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

    caplog.clear()
    with RedisServer(appendonly=True, binary=require_binary("redis-server")) as durable:
        store = RedisStore.from_url(durable.url)
        await store.open()
        await store.close()
    assert not any("persist" in r.getMessage() for r in caplog.records)
