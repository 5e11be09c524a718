"""SQLite specifics: restart behaviour, files and pragmas, errors as StoreUnavailable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import Attempt, NewJob, new_job_id
from relay.store.base import JobQuery
from relay.store.sqlite import SQLiteStore

T0 = 1_700_000_000.0


def url(path: Path, query: str = "") -> str:
    return f"sqlite:///{path}{query}"


def with_job(key: str) -> GroupUpdate:
    state = GroupState(key=key, receiver="r", route_id="0", labels={}, alerts={"fp": {}})
    job = NewJob(new_job_id(), "r", "r/webhook/0", key, {"alerts": [{}]}, T0)
    return GroupUpdate(key, lambda _old: TransitionResult(state, [job]))


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable; root ignores mode bits, so fall back to the immutable flag."""
    path.chmod(0o555)
    immutable = False
    try:
        probe = path / ".probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
            if result.returncode != 0:
                pytest.skip("cannot make a directory read-only here (root without chattr)")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        path.chmod(0o755)


def test_from_url() -> None:
    assert SQLiteStore.from_url("sqlite:///data/relay.db").path == Path("data/relay.db").absolute()
    assert SQLiteStore.from_url("sqlite:////srv/relay.db").path == Path("/srv/relay.db")
    store = SQLiteStore.from_url("sqlite:////srv/relay.db?synchronous=normal&busy_timeout=1.5")
    assert (store.synchronous, store.busy_timeout) == ("NORMAL", 1.5)
    assert store.describe() == "sqlite:////srv/relay.db?synchronous=normal"
    assert SQLiteStore.from_url("sqlite:////srv/relay.db").describe() == "sqlite:////srv/relay.db"
    assert SQLiteStore.from_url("sqlite:////srv/relay.db?synchronous=full").synchronous == "FULL"
    for bad in (
        "sqlite://:memory:",
        "sqlite:///:memory:",
        "sqlite://host/relay.db",
        "sqlite:///",
        "sqlite:////x.db?synchronous=off",
        "sqlite:////x.db?journal=delete",
    ):
        with pytest.raises(ValueError):
            SQLiteStore.from_url(bad)


async def test_creates_directory_schema_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "relay.db"
    store = SQLiteStore.from_url(url(path))
    await store.open()
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
            assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert {"groups", "jobs", "refs", "jobs_claim"} <= tables
        sync = await store._call(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        assert sync == 2  # FULL: a webhook answered 200 is fsynced
    finally:
        await store.close()


async def test_synchronous_normal_is_an_opt_in(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(url(tmp_path / "relay.db", "?synchronous=normal"))
    await store.open()
    try:
        assert await store._call(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 1
    finally:
        await store.close()


async def test_a_second_store_on_the_same_file_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "relay.db"
    first, second = SQLiteStore.from_url(url(path)), SQLiteStore.from_url(url(path))
    await first.open()
    try:
        with pytest.raises(StoreUnavailable) as refused:
            await second.open()
        assert f"database {path} is in use by another relay (pid {os.getpid()})" in str(refused.value)
        with pytest.raises(StoreUnavailable):
            second.prepare()  # also before any open: what `relay serve` checks first
        await first.apply([with_job("g")])  # the first one is unaffected
    finally:
        await first.close()
    await second.open()  # free once the first has closed
    try:
        assert await second.get_group("g") is not None
    finally:
        await second.close()


async def test_a_version_1_file_is_upgraded_and_its_resolved_groups_can_be_pruned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "relay.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        # What relay 0.1 created: no firing_count, no auto_vacuum.
        conn.executescript("""
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (1);
            CREATE TABLE groups (key TEXT PRIMARY KEY, next_flush_at REAL, updated_at REAL NOT NULL,
                                 alert_count INTEGER NOT NULL, state TEXT NOT NULL);
        """)
        for key, statuses in (("resolved", ["resolved", "resolved"]), ("firing", ["resolved", "firing"])):
            state = GroupState(
                key=key,
                receiver="r",
                route_id="0",
                labels={},
                updated_at=T0,
                alerts={f"fp{i}": {"status": s} for i, s in enumerate(statuses)},
            )
            conn.execute(
                "INSERT INTO groups VALUES (?, NULL, ?, ?, ?)",
                (key, T0, len(statuses), json.dumps(state.to_dict())),
            )
    store = SQLiteStore.from_url(url(path))
    await store.open()
    try:
        await store.prune(T0 + 86400, job_retention=60, group_retention=60)
        assert await store.get_group("resolved") is None
        assert await store.get_group("firing") is not None
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


# The tables relay wrote at schema version 2 (the last released one), as they were.
_SCHEMA_2 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (2);
CREATE TABLE groups (key TEXT PRIMARY KEY, next_flush_at REAL, updated_at REAL NOT NULL,
                     alert_count INTEGER NOT NULL, state TEXT NOT NULL,
                     firing_count INTEGER NOT NULL DEFAULT 0);
CREATE INDEX groups_next_flush_at ON groups (next_flush_at) WHERE next_flush_at IS NOT NULL;
CREATE TABLE jobs (id TEXT PRIMARY KEY, receiver TEXT NOT NULL, integration TEXT NOT NULL,
                   group_key TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
                   created_at REAL NOT NULL, next_attempt_at REAL NOT NULL, lease_owner TEXT,
                   lease_until REAL, attempts TEXT NOT NULL DEFAULT '[]',
                   last_error TEXT NOT NULL DEFAULT '', finished_at REAL);
CREATE INDEX jobs_claim ON jobs (status, integration, next_attempt_at, created_at);
CREATE INDEX jobs_created_at ON jobs (created_at);
CREATE TABLE refs (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL);
"""


async def test_a_version_2_file_is_upgraded_to_3_with_its_data_intact(tmp_path: Path) -> None:
    """One migration 2 -> 3: storm digests' digest_id and the console's columns, indexes
    and counters, filled from the jobs and groups already there."""
    path = tmp_path / "relay.db"
    failed = {
        "at": T0 + 5,
        "duration": 0.2,
        "outcome": "retry",
        "reason": "http_503",
        "error": "busy",
        "detail": "",
    }
    # id, integration, status, attempts, last_error, finished_at, alertnames
    rows = [
        ("pending", "oncall/wecom/0", "pending", [], "", None, ["Disk"]),
        ("retrying", "oncall/wecom/0", "pending", [failed], "busy", None, ["Disk", "Memory"]),
        ("running", "oncall/wecom/0", "running", [], "", None, ["Memory"]),
        ("delivered", "db/email/0", "delivered", [{**failed, "outcome": "delivered"}], "", T0 + 6, ["Disk"]),
        ("dead", "db/email/0", "dead", [{**failed, "outcome": "dead"}], "busy", T0 + 7, []),
    ]
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.executescript(_SCHEMA_2)
        for key, receiver in (("g-oncall", "oncall"), ("g-db", "db")):
            state = GroupState(
                key=key,
                receiver=receiver,
                route_id="0",
                labels={},
                updated_at=T0,
                alerts={"fp": {"status": "firing"}},
            )
            conn.execute(
                "INSERT INTO groups VALUES (?, NULL, ?, 1, ?, 1)", (key, T0, json.dumps(state.to_dict()))
            )
        for i, (job_id, integration, status, attempts, error, finished, names) in enumerate(rows):
            receiver = integration.split("/")[0]
            payload = {"status": "firing", "alerts": [{"labels": {"alertname": n}} for n in names]}
            conn.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    receiver,
                    integration,
                    f"g-{receiver}",
                    json.dumps(payload),
                    status,
                    T0 + i,
                    T0 + 100,
                    "gone" if status == "running" else None,
                    T0 + 60 if status == "running" else None,
                    json.dumps(attempts),
                    error,
                    finished,
                ),
            )
        conn.execute("INSERT INTO refs VALUES ('ref', '{\"ts\": \"1\"}', ?)", (T0 + 10**6,))

    store = SQLiteStore.from_url(url(path))
    store.clock = lambda: T0  # the reference is still valid then
    await store.open()
    try:
        # Every job as it was (a running one is due again: its process is gone).
        for i, (job_id, integration, status, attempts, error, finished, names) in enumerate(rows):
            job = await store.get_job(job_id)
            assert job is not None
            assert (job.integration, job.created_at, job.last_error, job.finished_at) == (
                integration,
                T0 + i,
                error,
                finished,
            )
            assert job.status == ("pending" if status == "running" else status)
            assert [a.to_dict() for a in job.attempts] == [{**a, "sent": []} for a in attempts]
            assert job.payload["alerts"] == [{"labels": {"alertname": n}} for n in names]
            assert (job.digest_id, job.actions) == (None, [])
        assert await store.get_ref("ref") == {"ts": "1"}
        # The console's counters and indexes know the old jobs and groups.
        assert await store.job_counts() == {"pending": 3, "running": 0, "delivered": 1, "dead": 1}
        memory = await store.query_jobs(JobQuery(alertname="Memory"))
        assert [j.id for j in memory.jobs] == ["running", "retrying"]
        retrying = await store.query_jobs(JobQuery(status="retrying"))
        assert [j.id for j in retrying.jobs] == ["retrying"]
        groups, _ = await store.list_groups(None, 10, receiver="db")
        assert [g.key for g in groups] == ["g-db"]
        stats = await store.integration_stats(T0 + 10)
        assert (stats["oncall/wecom/0"].queue, stats["oncall/wecom/0"].oldest_queued_at) == (3, T0)
        assert stats["db/email/0"].dead == 1
        # And the new columns work on old rows: a retry by someone, a storm merge.
        assert await store.requeue("dead", T0 + 20, by="basic:alice")
        retried = await store.get_job("dead")
        assert retried is not None and [a["by"] for a in retried.actions] == ["basic:alice"]
        mine = await store.claim_integration("me", "oncall/wecom/0", T0 + 200, 10, 60.0)
        assert {j.id for j in mine} == {"pending", "retrying", "running"}
        digest = NewJob(
            new_job_id(),
            "oncall",
            "oncall/wecom/0",
            "storm-digest|oncall/wecom/0",
            {"digest": {"kind": "storm", "entries": []}},
            T0 + 200,
        )
        assert await store.merge_into_digest("me", digest, [j.id for j in mine], T0 + 200)
        merged = await store.get_job("retrying")
        assert merged is not None and merged.digest_id == digest.id
        assert merged.attempts[0].to_dict() == {**failed, "sent": []}
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(3,)]


async def test_prune_gives_the_space_back_to_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = SQLiteStore.from_url(url(path))
    await store.open()
    try:
        big = {f"fp{i}": {"status": "resolved", "annotations": {"d": "x" * 2000}} for i in range(20)}
        await store.apply(
            [
                GroupUpdate(
                    f"g{n}",
                    lambda _old, n=n: TransitionResult(
                        GroupState(
                            key=f"g{n}",
                            receiver="r",
                            route_id="0",
                            labels={},
                            alerts=dict(big),
                            updated_at=T0,
                        )
                    ),
                )
                for n in range(200)
            ]
        )
        pages = await store._call(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        assert await store.prune(T0 + 86400, job_retention=60, group_retention=60) == 200
        after = await store._call(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        free = await store._call(lambda c: c.execute("PRAGMA freelist_count").fetchone()[0])
        assert after < pages / 10 and free == 0
    finally:
        await store.close()


async def test_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = SQLiteStore.from_url(url(path))
    await store.open()
    [result] = await store.apply([with_job("g")])
    await store.set_ref("ref", {"ts": "1"}, ttl=3600)
    await store.close()

    reopened = SQLiteStore.from_url(url(path))
    await reopened.open()
    try:
        assert await reopened.get_group("g") == result.state
        job = await reopened.get_job(result.jobs[0].id)
        assert job is not None and job.status == "pending"
        assert await reopened.get_ref("ref") == {"ts": "1"}
    finally:
        await reopened.close()


async def test_running_jobs_are_pending_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = SQLiteStore.from_url(url(path))
    await store.open()
    [result] = await store.apply([with_job("g")])
    [claimed] = await store.claim_jobs("old-process", now=T0, limit=10, lease=3600)
    await store.close()  # as if killed mid-delivery: no record_attempt, lease still held

    # Reopening the same instance and a fresh one both hand the job out again at once.
    await store.open()
    job = await store.get_job(claimed.id)
    assert job is not None and job.status == "pending"
    await store.close()
    restarted = SQLiteStore.from_url(url(path))
    await restarted.open()
    try:
        again = await restarted.claim_jobs("new-process", now=T0 + 1, limit=10, lease=30)
        assert [j.id for j in again] == [result.jobs[0].id]
        assert again[0].attempts == []
    finally:
        await restarted.close()


async def test_unavailable_after_close(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(url(tmp_path / "relay.db"))
    await store.open()
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.apply([with_job("g")])
    with pytest.raises(StoreUnavailable):
        await store.claim_jobs("w", now=T0, limit=1, lease=1)


async def test_unavailable_in_read_only_directory(tmp_path: Path) -> None:
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    fresh.mkdir()
    store = SQLiteStore.from_url(url(existing / "relay.db"))
    await store.open()
    await store.apply([with_job("g")])
    await store.close()

    for directory in (fresh, existing):
        store = SQLiteStore.from_url(url(directory / "relay.db"))
        with read_only_dir(directory), pytest.raises(StoreUnavailable, match=str(directory)):
            await store.open()
        with pytest.raises(StoreUnavailable, match="closed"):
            await store.ping()


async def test_unavailable_when_parent_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    store = SQLiteStore.from_url(url(tmp_path / "file" / "relay.db"))
    with pytest.raises(StoreUnavailable, match="cannot create directory"):
        await store.open()


async def test_unavailable_while_locked_beyond_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = SQLiteStore.from_url(url(path, "?busy_timeout=0.1"))
    await store.open()
    try:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        results = await asyncio.gather(
            store.apply([with_job("a")]), store.apply([with_job("b")]), return_exceptions=True
        )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert "locked" in str(results[0])
        other.execute("ROLLBACK")
        other.close()
        await store.apply([with_job("a")])  # recovers once the lock is gone
        assert await store.get_group("b") is None
    finally:
        await store.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = SQLiteStore.from_url(url(path))
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        await store.open()


async def test_concurrent_applies_share_commits(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(url(tmp_path / "relay.db"))
    await store.open()
    try:
        before = store.transactions
        await asyncio.gather(*(store.apply([with_job(f"g{i}")]) for i in range(50)))
        assert store.transactions - before < 25
        assert len(await store.list_jobs()) == 50
    finally:
        await store.close()


def test_writer_thread_does_not_outlive_close(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteStore.from_url(url(tmp_path / "relay.db"))
        await store.open()
        await store.close()

    before = {t.name for t in threading.enumerate()}
    asyncio.run(scenario())
    after = {t.name for t in threading.enumerate()}
    assert not {n for n in after - before if n.startswith("relay-sqlite")}
    assert os.path.exists(tmp_path / "relay.db")


async def test_unavailable_when_disk_is_full(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(url(tmp_path / "relay.db"))
    await store.open()
    try:
        pages = await store._call(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        await store._call(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))
        big = GroupState(key="big", receiver="r", route_id="0", labels={"x": "y" * 200_000})
        results = await asyncio.gather(
            store.apply([with_job("small1")]),
            store.apply([GroupUpdate("big", lambda _old: TransitionResult(big))]),
            store.apply([with_job("small2")]),
            return_exceptions=True,
        )
        assert isinstance(results[1], StoreUnavailable) and "full" in str(results[1])
        # Whatever shared the failed transaction: reported done means committed.
        for key, result in zip(("small1", "small2"), results[::2], strict=True):
            assert isinstance(result, StoreUnavailable) or await store.get_group(key) is not None
        await store._call(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))
        await store.apply([GroupUpdate("big", lambda _old: TransitionResult(big))])
        assert await store.get_group("big") == big
    finally:
        await store.close()


# What the jobs_alertnames_insert trigger selected for each new job, before insert_jobs
# wrote the rows itself: the contract the delivery log's alertname filter was built on.
TRIGGER_SELECT = (
    "SELECT DISTINCT json_extract(value, '$.labels.alertname') FROM json_each(?, '$.alerts')"
    " WHERE coalesce(json_extract(value, '$.labels.alertname'), '') != ''"
)

alertname_value = st.one_of(
    st.sampled_from(["Disk", "Memory", "", "告警", "Disk "]), st.none(), st.integers(0, 3)
)
label_set = st.dictionaries(st.sampled_from(["alertname", "job", "severity"]), alertname_value, max_size=3)
# (A string where an alert belongs made the trigger fail the insert: not a payload relay writes.)
alert_value = st.one_of(
    st.fixed_dictionaries({}, optional={"labels": label_set}), st.integers(0, 2), st.none()
)
payloads = st.one_of(
    st.fixed_dictionaries({}, optional={"alerts": st.lists(alert_value, max_size=6)}),
    st.fixed_dictionaries({"digest": st.just({"entries": []})}),
)


@settings(derandomize=True, max_examples=500, deadline=None)
@given(payload=payloads)
def test_alertname_rows_are_those_the_trigger_selected(payload: dict[str, Any]) -> None:
    from relay.store.sqlite.common import alertnames_of

    conn = sqlite3.connect(":memory:")
    by_trigger = {row[0] for row in conn.execute(TRIGGER_SELECT, (json.dumps(payload),))}
    # The trigger stored a number as the text column's affinity made it; labels are
    # strings in every payload relay writes, and a number is left out.
    assert set(alertnames_of(payload)) == {name for name in by_trigger if isinstance(name, str)}
    assert len(alertnames_of(payload)) == len(set(alertnames_of(payload)))


async def test_jobs_are_found_by_alertname_after_insert_and_resend(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(url(tmp_path / "r.db"))
    await store.open()
    try:
        key = "r|g"
        state = GroupState(key=key, receiver="r", route_id="0", labels={}, alerts={})
        payload = {"alerts": [{"labels": {"alertname": "Disk"}}, {"labels": {"alertname": "Memory"}}]}
        job = NewJob(new_job_id(), "r", "r/webhook/0", key, payload, T0)
        await store.apply([GroupUpdate(key, lambda _old: TransitionResult(state, [job]))])
        (claimed,) = await store.claim_jobs("me", T0, 10, 60)
        delivered = Attempt(at=T0 + 1, duration=0.1, outcome="delivered", reason="ok")
        await store.record_attempt(claimed, delivered)
        again = await store.resend(job.id, new_job_id(), T0 + 2, "alex")
        assert again is not None
        for name in ("Disk", "Memory"):
            page = await store.query_jobs(JobQuery(alertname=name))
            assert [j.id for j in page.jobs] == [again.id, job.id]
        assert (await store.query_jobs(JobQuery(alertname="Cpu"))).jobs == []
    finally:
        await store.close()
