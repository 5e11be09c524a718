"""The console's part of the Store contract, on every backend: the delivery log's keyset
pages and filters, resend and retry with who did it, health counters, groups by key and
kept webhooks."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from relay.core.groups import GroupUpdate
from relay.core.jobs import SENT_LIMIT, Job, NewJob, bound_sent, new_job_id
from relay.store.base import STATS_BUCKET, JobQuery, KeptWebhook, Store
from tests.store.test_contract import T0, attempt, group, put

INTEGRATIONS = ("oncall/slack/0", "oncall/wecom/0", "db/email/0")


def job_for(i: int, *, at: float, alertnames: tuple[str, ...] = ("Disk",)) -> NewJob:
    integration = INTEGRATIONS[i % len(INTEGRATIONS)]
    receiver = integration.split("/")[0]
    alerts = [{"fingerprint": f"fp{n}", "labels": {"alertname": name}} for n, name in enumerate(alertnames)]
    return NewJob(
        id=new_job_id(),
        receiver=receiver,
        integration=integration,
        group_key=f"g{i % 4}",
        payload={"status": "firing", "alerts": alerts},
        created_at=at,
    )


async def store_jobs(store: Store, jobs: list[NewJob]) -> None:
    # Several jobs per update, as one webhook's fan-out writes them (same created_at).
    for start in range(0, len(jobs), 3):
        chunk = jobs[start : start + 3]
        key = f"k{start}"
        await store.apply([GroupUpdate(key, put(group(key), *chunk))])


async def all_pages(store: Store, query: JobQuery) -> list[Job]:
    """Every job of ``query``, page after page, following the cursor."""
    seen: list[Job] = []
    cursor = None
    for _ in range(1000):
        page = await store.query_jobs(JobQuery(**{**query.__dict__, "cursor": cursor}))
        assert len(page.jobs) <= query.limit
        seen += page.jobs
        if page.next is None:
            return seen
        cursor = page.next
    raise AssertionError("the log never ended")


def log_order(jobs: list[Job]) -> list[str]:
    return [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]


async def test_pages_cover_the_log_newest_first_without_duplicates_or_gaps(store: Store) -> None:
    # Ties on created_at (three jobs per webhook) must neither repeat nor vanish.
    jobs = [job_for(i, at=T0 + i // 3) for i in range(40)]
    await store_jobs(store, jobs)
    everything = [job.id for job in await all_pages(store, JobQuery(limit=7))]
    expected = [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]
    assert everything == expected


@pytest.mark.parametrize(
    "field,value",
    [
        ("receiver", "oncall"),
        ("integration", "oncall/wecom/0"),
        ("group_key", "g1"),
        ("alertname", "Memory"),
    ],
)
async def test_each_filter_pages_through_exactly_its_jobs(store: Store, field: str, value: str) -> None:
    jobs = [
        job_for(i, at=T0 + i, alertnames=("Disk", "Memory") if i % 5 == 0 else ("Disk",)) for i in range(30)
    ]
    await store_jobs(store, jobs)

    def matches(job: NewJob) -> bool:
        if field == "alertname":
            return any(a["labels"]["alertname"] == value for a in job.payload["alerts"])
        return bool(getattr(job, field) == value)

    found = await all_pages(store, JobQuery(limit=4, **{field: value}))
    expected = sorted((j for j in jobs if matches(j)), key=lambda j: (j.created_at, j.id), reverse=True)
    assert [j.id for j in found] == [j.id for j in expected]
    assert found


async def test_time_range_and_combined_filters(store: Store) -> None:
    jobs = [job_for(i, at=T0 + i) for i in range(30)]
    await store_jobs(store, jobs)
    found = await all_pages(
        store, JobQuery(limit=3, since=T0 + 5, until=T0 + 20, receiver="oncall", group_key="g2")
    )
    expected = [
        j
        for j in jobs
        if T0 + 5 <= j.created_at <= T0 + 20 and j.receiver == "oncall" and j.group_key == "g2"
    ]
    assert [j.id for j in found] == log_order_new(expected)


def log_order_new(jobs: list[NewJob]) -> list[str]:
    return [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]


async def test_status_filters_tell_retrying_from_pending(store: Store) -> None:
    jobs = [job_for(0, at=T0 + i) for i in range(4)]
    await store_jobs(store, jobs)
    claimed = await store.claim_jobs("w", T0 + 10, 10, 60)
    by_id = {job.id: job for job in claimed}
    first, second, third, fourth = (by_id[j.id] for j in jobs)
    await store.record_attempt(first, attempt("delivered", T0 + 11))
    await store.record_attempt(second, attempt("retry", T0 + 11), next_attempt_at=T0 + 100)
    await store.record_attempt(third, attempt("dead", T0 + 11))
    await store.release("w", [fourth.id])  # given back unattempted: pending, not retrying

    async def ids(status: Any) -> set[str]:
        return {j.id for j in await all_pages(store, JobQuery(status=status, limit=2))}

    assert await ids("delivered") == {first.id}
    assert await ids("retrying") == {second.id}
    assert await ids("pending") == {second.id, fourth.id}
    assert await ids("dead") == {third.id}
    assert await ids("running") == set()
    # A job taken again is running, no longer retrying.
    await store.claim_jobs("w", T0 + 200, 10, 60)
    assert await ids("retrying") == set()
    assert await ids("running") == {second.id, fourth.id}


async def test_retry_and_resend_record_who_and_copy_the_notification(store: Store) -> None:
    jobs = [job_for(0, at=T0), job_for(0, at=T0 + 1)]
    await store_jobs(store, jobs)
    claimed = {j.id: j for j in await store.claim_jobs("w", T0 + 5, 10, 60)}
    await store.record_attempt(claimed[jobs[0].id], attempt("dead", T0 + 6))
    await store.record_attempt(claimed[jobs[1].id], attempt("delivered", T0 + 6))

    assert await store.requeue(jobs[0].id, T0 + 10, by="basic:alice") is True
    retried = await store.get_job(jobs[0].id)
    assert retried is not None and retried.status == "pending" and retried.retrying
    assert retried.actions == [{"action": "retry", "by": "basic:alice", "at": T0 + 10}]

    assert await store.resend(jobs[0].id, new_job_id(), T0 + 11, "bearer") is None  # pending
    assert await store.resend("no-such-job", new_job_id(), T0 + 11, "bearer") is None
    new_id = new_job_id()
    copy = await store.resend(jobs[1].id, new_id, T0 + 12, "session:bob")
    assert copy is not None and copy.id == new_id and copy.status == "pending"
    assert copy.payload == jobs[1].payload and copy.integration == jobs[1].integration
    assert copy.created_at == T0 + 12 and copy.attempts == []
    assert copy.actions == [{"action": "resent_from", "by": "session:bob", "at": T0 + 12, "job": jobs[1].id}]
    original = await store.get_job(jobs[1].id)
    assert original is not None and original.status == "delivered"
    assert original.actions == [{"action": "resend", "by": "session:bob", "at": T0 + 12, "job": new_id}]
    # The copy is in the log, its indexes and the queue like any new job.
    newest = await store.query_jobs(JobQuery(alertname="Disk", status="pending", limit=1))
    assert [j.id for j in newest.jobs] == [new_id]
    assert new_id in {j.id for j in await store.claim_jobs("w", T0 + 20, 10, 60)}


async def test_attempts_keep_the_message_as_sent(store: Store) -> None:
    (job,) = [job_for(0, at=T0)]
    await store_jobs(store, [job])
    (claimed,) = await store.claim_jobs("w", T0 + 1, 10, 60)
    sent = ['{"msgtype": "markdown", "markdown": {"content": "磁盘 <b>"}}', "part 2"]
    await store.record_attempt(claimed, replace(attempt("delivered", T0 + 2), sent=sent))
    stored = await store.get_job(job.id)
    assert stored is not None and stored.attempts[-1].sent == sent


def test_bound_sent_keeps_whole_parts_and_says_what_it_cut() -> None:
    assert bound_sent(["a", "b"]) == ["a", "b"]
    big = "é" * SENT_LIMIT  # two bytes each
    kept = bound_sent(["head", big, "tail"])
    assert kept[0] == "head"
    assert len("".join(kept[:2]).encode()) <= SENT_LIMIT
    assert kept[-1].startswith("[truncated: ") and "2 part(s)" in kept[-1]
    cut_bytes = 2 * SENT_LIMIT - (SENT_LIMIT - 4) // 2 * 2 + 4
    assert f"{cut_bytes} more bytes" in kept[-1]


async def test_health_counts_attempts_by_hour_and_day_and_the_queue(store: Store) -> None:
    now = T0 + 2 * 86400
    old, recent = now - 5 * 3600, now - 600
    jobs = [job_for(0, at=old) for _ in range(5)] + [job_for(1, at=recent) for _ in range(3)]
    await store_jobs(store, jobs)
    slack = await store.claim_jobs("w", old + 1, 3, 60)
    assert {j.integration for j in slack} == {"oncall/slack/0"}
    await store.record_attempt(slack[0], attempt("delivered", old + 1))
    await store.record_attempt(
        slack[1], attempt("retry", old + 2, reason="http_500"), next_attempt_at=now + 60
    )
    await store.record_attempt(slack[2], attempt("dead", old + 3, reason="http_400", error="bad"))
    (wecom,) = await store.claim_jobs("w", recent + 1, 1, 60, exclude_integrations=[INTEGRATIONS[0]])
    await store.record_attempt(wecom, attempt("delivered", now - 30))

    stats = await store.integration_stats(now)
    s = stats["oncall/slack/0"]
    assert (s.hour_delivered, s.hour_failed, s.day_delivered, s.day_failed) == (0, 0, 1, 2)
    assert (s.last_at, s.last_outcome, s.last_reason, s.last_error) == (old + 3, "dead", "http_400", "bad")
    assert s.queue == 3 and s.oldest_queued_at == old and s.dead == 1
    w = stats["oncall/wecom/0"]
    assert (w.hour_delivered, w.hour_failed, w.day_delivered, w.day_failed) == (1, 0, 1, 0)
    assert w.last_outcome == "delivered" and w.queue == 2 and w.oldest_queued_at == recent
    # A day later the counters are gone; the queue and the dead letter are not.
    later = await store.integration_stats(now + 86400 + STATS_BUCKET)
    s = later["oncall/slack/0"]
    assert (s.day_delivered, s.day_failed, s.queue, s.dead) == (0, 0, 3, 1)
    # Retrying the dead letter moves it back to the queue.
    assert await store.requeue(slack[2].id, now, by="anonymous")
    s = (await store.integration_stats(now))["oncall/slack/0"]
    assert (s.queue, s.dead) == (4, 0)


async def test_job_counts_agree_with_the_jobs(store: Store) -> None:
    """job_counts is read from counters on SQLite: compared with counting the log."""
    rng = random.Random(7)
    jobs = [job_for(i, at=T0 + i) for i in range(24)]
    await store_jobs(store, jobs)
    claimed = await store.claim_jobs("w", T0 + 100, 16, 60)
    for job in claimed[:12]:
        outcome = rng.choice(["delivered", "retry", "dead"])
        await store.record_attempt(job, attempt(outcome, T0 + 101), next_attempt_at=T0 + 500)
    await store.release("w", [j.id for j in claimed[12:14]])
    await store.prune(T0 + 10**6, job_retention=60, group_retention=10**9)
    counts = await store.job_counts()
    for status in ("pending", "running", "delivered", "dead"):
        listed = await all_pages(store, JobQuery(status=status, limit=50))  # type: ignore[arg-type]
        assert counts[status] == len(listed), status


async def test_groups_page_by_key(store: Store) -> None:
    keys = [f"group-{i:02d}" for i in range(23)]
    updates = []
    for i, key in enumerate(keys):
        state = group(key)
        state.receiver = "db" if i % 3 == 0 else "oncall"
        updates.append(GroupUpdate(key, put(state)))
    await store.apply(updates)
    await store.apply([GroupUpdate("group-05", put(None))])  # deleted: gone from the list

    async def walk(receiver: str | None) -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            groups, after = await store.list_groups(after, 5, receiver)
            seen += [g.key for g in groups]
            if after is None:
                return seen

    assert await walk(None) == [k for k in keys if k != "group-05"]
    assert await walk("db") == [k for i, k in enumerate(keys) if i % 3 == 0]


async def test_kept_webhooks_are_bounded_by_count_and_bytes(store: Store) -> None:
    def hook(i: int, size: int = 10) -> KeptWebhook:
        return KeptWebhook(id=f"w{i}", received_at=T0 + i, receiver="", body="x" * size)

    for i in range(5):
        await store.keep_webhooks([hook(i)], keep=3, keep_bytes=1000)
    assert [w.id for w in await store.recent_webhooks()] == ["w4", "w3", "w2"]
    await store.keep_webhooks([hook(5, 995)], keep=3, keep_bytes=1000)  # only it, none older
    assert [w.id for w in await store.recent_webhooks()] == ["w5"]
    await store.keep_webhooks([hook(6, 2000)], keep=3, keep_bytes=1000)  # too big to keep
    assert [w.id for w in await store.recent_webhooks()] == ["w5"]
    await store.keep_webhooks([hook(7)], keep=0, keep_bytes=1000)  # disabled: all go
    assert await store.recent_webhooks() == []
    await store.keep_webhooks([hook(i) for i in range(10, 15)], keep=3, keep_bytes=1000)
    assert [w.id for w in await store.recent_webhooks()] == ["w14", "w13", "w12"]  # one batch
    await store.keep_webhooks([KeptWebhook("u", T0, "team", '{"a": "é"}')], keep=2, keep_bytes=100)
    kept, older = await store.recent_webhooks()
    assert older.id == "w14"
    assert (kept.receiver, kept.body, kept.summary()["bytes"]) == ("team", '{"a": "é"}', 11)


async def test_a_storm_merge_keeps_the_log_counters_and_queue_right(store: Store) -> None:
    """merge_into_digest writes the digest job with the console's indexes and takes the
    merged jobs out of the queue: the log, its filters and the counters agree."""
    jobs = [job_for(1, at=T0 + i, alertnames=("Disk",)) for i in range(4)]  # oncall/wecom/0
    await store_jobs(store, jobs)
    first = await store.claim_integration("w", "oncall/wecom/0", T0 + 10, 1, 60.0)
    await store.record_attempt(
        first[0], attempt("retry", T0 + 11, reason="http_503"), next_attempt_at=T0 + 12
    )
    mine = await store.claim_integration("w", "oncall/wecom/0", T0 + 20, 10, 60.0)
    assert len(mine) == 4
    digest = NewJob(
        id=new_job_id(),
        receiver="oncall",
        integration="oncall/wecom/0",
        group_key="storm-digest|oncall/wecom/0",
        payload={
            "digest": {
                "kind": "storm",
                "entries": [{"firing": 4, "resolved": 0, "job_ids": [j.id for j in mine]}],
            }
        },
        created_at=T0 + 20,
    )
    assert await store.merge_into_digest("w", digest, [j.id for j in mine], T0 + 20)

    delivered = await all_pages(store, JobQuery(status="delivered", limit=3))
    assert sorted(j.id for j in delivered) == sorted(j.id for j in jobs)
    assert {j.digest_id for j in delivered} == {digest.id}
    assert await all_pages(store, JobQuery(status="retrying", limit=3)) == []
    pending = await all_pages(
        store, JobQuery(status="pending", integration="oncall/wecom/0", receiver="oncall", limit=3)
    )
    assert [j.id for j in pending] == [digest.id]
    assert pending[0].to_api()["digest"] == {
        "kind": "storm",
        "groups": 1,
        "firing": 4,
        "resolved": 0,
        "jobs": [j.id for j in mine],
    }
    wecom = await all_pages(store, JobQuery(integration="oncall/wecom/0", limit=2))
    assert wecom[0].id == digest.id and len(wecom) == 5
    group = await all_pages(store, JobQuery(group_key=digest.group_key, limit=2))
    assert [j.id for j in group] == [digest.id]
    by_name = await all_pages(store, JobQuery(alertname="Disk", limit=10))
    assert {j.id for j in by_name} == {j.id for j in jobs}
    counts = await store.job_counts()
    assert (counts["pending"], counts["running"], counts["delivered"]) == (1, 0, 4)
    stats = (await store.integration_stats(T0 + 30))["oncall/wecom/0"]
    assert (stats.queue, stats.oldest_queued_at, stats.dead) == (1, T0 + 20, 0)
    # One attempt went to the vendor (the failed one); the merge is not an attempt.
    assert (stats.hour_delivered, stats.hour_failed) == (0, 1)
