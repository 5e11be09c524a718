"""Held notifications in every backend: kept in the group's state across a restart,
found by the group timer at the window's end, never pruned while held, and released
with their digest in one batch."""

from __future__ import annotations

from typing import Any

from relay.core.alerts import Alert
from relay.core.groups import GroupUpdate
from relay.pipeline.grouping import (
    GroupContext,
    IntegrationPolicy,
    TimeGate,
    flush_update,
    passthrough_update,
)
from relay.pipeline.hold import ReleasedHolds, digest_update, hold_digest_jobs
from relay.pipeline.routing import Route
from relay.store.base import Store
from relay.store.redis import RedisStore
from relay.store.sqlite import SQLiteStore
from tests.helpers.webhooks import alert

T0 = 1_800_000_000.0
END = T0 + 3600
ROUTE = Route(
    id="0",
    receiver="team",
    group_by=(),
    group_by_all=False,
    group_wait=30,
    group_interval=300,
    repeat_interval=14400,
    matchers=(),
    continue_=False,
    routes=[],
    hold_time_intervals=("night",),
)
INTEGRATIONS = [IntegrationPolicy("team/webhook/0", send_resolved=True)]
CTX = GroupContext('{}:{alertname="A"}', "http://am:9093", 0)


async def reopen(store: Store) -> Store:
    """The same data through a new store object, as after a restart."""
    await store.close()
    again: Store
    if isinstance(store, SQLiteStore):
        again = SQLiteStore(store.path)
    else:
        assert isinstance(store, RedisStore)
        again = RedisStore(
            store.url, prefix=store.prefix, sentinel=store.sentinel, replication=store.replication
        )
    await again.open()
    return again


def held_webhook(key: str, *alerts: dict[str, Any], at: float = T0) -> GroupUpdate:
    return passthrough_update(
        key,
        "team",
        ROUTE,
        [Alert.model_validate(a) for a in alerts],
        {"alertname": "A"},
        INTEGRATIONS,
        CTX,
        at,
        TimeGate("held", END),
    )


async def test_held_entries_survive_a_restart_and_are_due_at_the_windows_end(store) -> None:
    [result] = await store.apply([held_webhook("team|g1", alert("A"))])
    assert result.jobs == [] and [s.reason for s in result.suppressed] == ["held"]
    store = await reopen(store)
    try:
        group = await store.get_group("team|g1")
        assert group is not None and list(group.held) == ["team/webhook/0"]
        assert group.held_until == END and group.next_flush_at == END
        assert await store.due_groups(END - 1) == []
        assert await store.due_groups(END) == ["team|g1"]
    finally:
        await store.close()


async def test_a_held_group_is_not_pruned_while_held(store) -> None:
    # Everything resolved within the window: no firing alert left, but held entries.
    await store.apply([held_webhook("team|g1", alert("A"))])
    await store.apply([held_webhook("team|g1", alert("A", status="resolved"), at=T0 + 60)])
    await store.prune(T0 + 30 * 86400, 86400, 86400)
    assert await store.get_group("team|g1") is not None


async def test_the_release_and_its_digest_commit_in_one_batch(store) -> None:
    await store.apply(
        [held_webhook("team|g1", alert("A", "x-1")), held_webhook("team|g2", alert("A", "x-2"))]
    )
    released = ReleasedHolds()
    updates = [
        flush_update(key, ROUTE, INTEGRATIONS, END, TimeGate("send"), released)
        for key in ("team|g1", "team|g2")
    ]
    updates.append(digest_update("hold-digest|test", released, hold_digest_jobs, END))
    results = await store.apply(updates)
    kinds = sorted(
        "digest" if "digest" in job.payload else job.payload["reason"] for r in results for job in r.jobs
    )
    assert kinds == ["digest", "hold_ended", "hold_ended"]
    stored = await store.list_jobs()
    assert sorted(job.group_key for job in stored if "digest" not in job.payload) == ["team|g1", "team|g2"]
    [digest] = [job.payload["digest"] for job in stored if "digest" in job.payload]
    assert [e["group_key"] for e in digest["entries"]] == ["team|g1", "team|g2"]
    for key in ("team|g1", "team|g2"):
        group = await store.get_group(key)
        assert group is not None and group.held == {} and group.next_flush_at is None
    # Applied again (another replica, a second flush): nothing left to release.
    released = ReleasedHolds()
    again = [
        flush_update("team|g1", ROUTE, INTEGRATIONS, END, TimeGate("send"), released),
        digest_update("hold-digest|test", released, hold_digest_jobs, END),
    ]
    assert [r.jobs for r in await store.apply(again)] == [[], []]
