"""Delivery: retries with backoff, Retry-After, dead letters and manual retry, isolation."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest

from relay.channels.base import Delivery, MemoryRefs, Message, NotifierContext
from relay.channels.parts import send_parts
from relay.config.sections import DeliveryConfig
from relay.core.clock import SystemClock
from relay.core.errors import RetryableError
from relay.core.rates import Rate
from relay.pipeline.attempt import OFF_LOOP_ITEMS, is_big
from relay.pipeline.ratelimit import DestinationLimiter, LimiterRegistry
from relay.pipeline.retry import RetryPolicy
from tests.helpers.notifiers import Fast, Hanging, Preless, settle, two_receivers
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook


def hook_config(url: str, retry_for: str = "1h", extra: str = "") -> str:
    return f"""
delivery:
  timeout: 2s
  retry_for: {retry_for}
  backoff_initial: 1s
  backoff_max: 30s
route:
  receiver: hook
receivers:
  - name: hook
    webhook_configs:
      - url: {url}/hook
{extra}
"""


@pytest.fixture
def sink():
    with Sink() as server:
        yield server


async def test_503_then_200_is_delivered_once(relay_factory, sink) -> None:
    sink.answer(Answer(503, "busy"))
    async with relay_factory(hook_config(sink.url)) as relay:
        await relay.post(webhook(alert()))
        assert await relay.deliver_all() == 1
        job = (await relay.jobs())[0]
        assert job.status == "pending" and job.attempts[0].reason == "http_503"
        assert await relay.deliver_all() == 0  # not due yet
        relay.clock.set(job.next_attempt_at)
        assert await relay.deliver_all() == 1
        job = (await relay.jobs())[0]
        assert job.status == "delivered"
        assert [a.outcome for a in job.attempts] == ["retry", "delivered"]
    assert sink.count() == 2
    assert sink.received[0].headers["Idempotency-Key"] == sink.received[1].headers["Idempotency-Key"]


async def test_429_retry_after_is_honoured(relay_factory, sink) -> None:
    sink.answer(Answer(429, "slow down", {"Retry-After": "2"}))
    config = hook_config(sink.url).replace("backoff_initial: 1s", "backoff_initial: 0.1s")
    async with relay_factory(config) as relay:
        await relay.post(webhook(alert()))
        await relay.deliver_all()
        job = (await relay.jobs())[0]
        assert job.next_attempt_at - job.attempts[0].at >= 2.0
        relay.clock.advance(1.9)
        assert await relay.deliver_all() == 0
        relay.clock.advance(0.1)
        assert await relay.deliver_all() == 1
        assert (await relay.jobs())[0].status == "delivered"


async def test_400_is_dead_at_once(relay_factory, sink) -> None:
    sink.answer(Answer(400, "bad payload"))
    async with relay_factory(hook_config(sink.url)) as relay:
        await relay.post(webhook(alert()))
        await relay.deliver_all()
        job = (await relay.jobs())[0]
        assert job.status == "dead"
        assert len(job.attempts) == 1
        assert "bad payload" in job.last_error
        metric = relay.state.metrics.registry.get_sample_value(
            "relay_notifications_total", {"receiver": "hook", "integration": "webhook", "outcome": "dead"}
        )
        assert metric == 1


async def test_past_retry_for_is_dead_visible_and_retried_by_request(relay_factory, sink) -> None:
    sink.default = Answer(503, "down for maintenance")
    async with relay_factory(hook_config(sink.url, retry_for="20s")) as relay:
        await relay.post(webhook(alert()))
        for _ in range(20):
            await relay.deliver_all()
            job = (await relay.jobs())[0]
            if job.status == "dead":
                break
            relay.clock.set(job.next_attempt_at)
        assert job.status == "dead"
        assert job.attempts[-1].at - job.created_at <= 20
        assert len(job.attempts) >= 3

        dead = (await relay.client.get("/api/v1/notifications", params={"status": "dead"})).json()
        assert [n["id"] for n in dead["notifications"]] == [job.id]
        assert "down for maintenance" in dead["notifications"][0]["last_error"]

        sink.default = Answer(200, "ok")
        response = await relay.client.post(f"/api/v1/notifications/{job.id}/retry")
        assert response.status_code == 202
        again = await relay.client.post(f"/api/v1/notifications/{job.id}/retry")
        assert again.status_code == 409
        assert (await relay.client.post("/api/v1/notifications/nope/retry")).status_code == 404
        assert await relay.deliver_all() == 1
        assert (await relay.jobs())[0].status == "delivered"
        delivered = (await relay.client.get("/api/v1/notifications?status=delivered")).json()
        assert len(delivered["notifications"]) == 1


async def test_notifications_api_rejects_bad_filters(relay_factory, sink) -> None:
    async with relay_factory(hook_config(sink.url)) as relay:
        assert (await relay.client.get("/api/v1/notifications?status=lost")).status_code == 400
        assert (await relay.client.get("/api/v1/notifications?limit=0")).status_code == 400


async def test_a_hanging_destination_does_not_delay_another(tmp_path) -> None:
    from relay.config import parse_config
    from relay.store.sqlite import SQLiteStore
    from relay.web.service import create_app

    with Sink(Answer(200, "ok", delay=4.0)) as slow, Sink() as fast:
        config = parse_config(
            f"""
delivery: {{timeout: 10s}}
route:
  receiver: both
receivers:
  - name: both
    webhook_configs:
      - url: {slow.url}/slow
      - url: {fast.url}/fast
""",
            env={},
        )
        app = create_app(
            config, store=SQLiteStore.from_url(f"sqlite:///{tmp_path}/r.db"), clock=SystemClock()
        )
        state = app.state.relay
        async with state.running(background=True):
            import httpx

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                for i in range(3):
                    await client.post(
                        "/api/v1/alerts/webhook", json=webhook(alert(instance=f"n{i}"), group_key=f"g{i}")
                    )
                deadline = time.monotonic() + 3.0
                while fast.count() < 3 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a sink
                    await asyncio.sleep(0.05)
                # All three reached the fast sink while the slow one still works on the
                # three it was sent at once (three groups: none waits for another's answer).
                assert fast.count() == 3
                assert slow.count() == 3


@pytest.mark.parametrize(
    ("delivery", "share"),
    [
        ("max_in_flight: 16", 2),  # the default share: max_in_flight // 8
        ("max_in_flight: 12, max_in_flight_per_integration: 3", 3),
    ],
)
async def test_a_hanging_integration_holds_only_its_share(relay_factory, delivery, share) -> None:
    async with relay_factory(two_receivers("http://127.0.0.1:9", delivery)) as relay:
        hanging, fast = Hanging(), Fast()
        relay.state.runtime.notifiers["stuck/webhook/0"] = hanging
        relay.state.runtime.notifiers["fast/webhook/0"] = fast
        # The hanging destination's backlog is the oldest: claimed oldest first, it would
        # take every slot without a share.
        for i in range(40):
            await relay.post(webhook(alert(instance=f"s{i}"), group_key=f"s{i}"), receiver="stuck")
            relay.clock.advance(0.001)
        for i in range(25):
            await relay.post(webhook(alert(instance=f"f{i}"), group_key=f"f{i}"), receiver="fast")
            relay.clock.advance(0.001)
        dispatcher = relay.state.dispatcher

        async def leased_to_stuck() -> int:
            return len([j for j in await relay.jobs() if j.receiver == "stuck" and j.status == "running"])

        try:
            for i in range(30):
                await dispatcher.run_once()
                await settle()
                assert await leased_to_stuck() <= share
                await relay.post(webhook(alert(instance=f"late{i}"), group_key=f"late{i}"), receiver="stuck")
                relay.clock.advance(0.001)
            # Its whole share is being sent at once (a webhook has no rate limit), no more.
            assert len(hanging.started) == share
            assert await leased_to_stuck() == share
            assert dispatcher.held() == {"stuck/webhook/0": share}
            jobs = await relay.jobs()
            assert sum(j.receiver == "stuck" and j.status == "pending" for j in jobs) == 70 - share
            fast_jobs = [j for j in jobs if j.receiver == "fast"]
            assert len(fast.sent) == 25
            assert {j.status for j in fast_jobs} == {"delivered"}
            assert sorted(fast.sent) == sorted(j.id for j in fast_jobs)
        finally:
            hanging.release.set()
            await dispatcher.stop(grace=1.0)


def test_the_share_of_one_integration_leaves_room_for_the_others() -> None:
    assert DeliveryConfig().integration_share == 8  # max_in_flight 64 // 8
    assert DeliveryConfig(max_in_flight=4).integration_share == 1
    assert DeliveryConfig(max_in_flight=1).integration_share == 1
    assert DeliveryConfig(max_in_flight=10, max_in_flight_per_integration=5).integration_share == 5
    with pytest.raises(ValueError, match="at most half of max_in_flight"):
        DeliveryConfig(max_in_flight=10, max_in_flight_per_integration=6)


def test_retry_policy_backs_off_exponentially_and_stops_at_retry_for() -> None:
    policy = RetryPolicy(DeliveryConfig(backoff_initial=1, backoff_max=60, retry_for=100))
    delays = [policy.next_attempt(n, 0.0, 0.0, None) for n in range(1, 7)]
    assert all(d is not None for d in delays)
    for n, delay in enumerate(delays, start=1):
        assert delay is not None
        assert min(60, 2 ** (n - 1)) <= delay <= min(60, 2 ** (n - 1) + 1)
    assert policy.next_attempt(1, 0.0, 0.0, retry_after=30) == 30
    assert policy.next_attempt(1, 0.0, 99.5, None) is None  # next try would pass retry_for


async def test_sliding_window_limiter_allows_limit_per_window() -> None:
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = DestinationLimiter([Rate(20, 60.0)], monotonic=lambda: now[0], sleep=fake_sleep)
    for _ in range(20):
        await limiter.acquire()
    assert slept == []
    await limiter.acquire()  # the 21st waits for the first to leave the window
    assert slept == [60.0]


class SplitRobot(Preless):
    """A robot that takes 20 a minute; every notification is ``parts`` messages, posted
    with the channel toolkit's send_parts, each arrival stamped with the test's clock."""

    rate_limit_key = "robot:split"
    rate_limits = (Rate(20, 60.0),)

    def __init__(self, parts: int, clock: list[float]) -> None:
        self.parts = parts
        self.clock = clock
        self.arrivals: list[float] = []
        self.ctx = cast(NotifierContext, SimpleNamespace(store=MemoryRefs()))

    async def send(self, message: Message) -> Delivery:
        async def post(body: Any) -> None:
            self.arrivals.append(self.clock[0])

        return await send_parts(self.ctx, message, [f"part {i}" for i in range(self.parts)], post)


@pytest.mark.parametrize(("parts", "jobs"), [(45, 1), (7, 6), (20, 3)])
async def test_every_part_of_a_split_message_takes_its_own_place(
    relay_factory, parts: int, jobs: int
) -> None:
    """Never more than the robot's limit in any window: one place per part, not one
    acquisition for a whole burst."""
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds
        await asyncio.sleep(0)

    async with relay_factory(two_receivers("http://127.0.0.1:9", "max_in_flight: 16")) as relay:
        robot = SplitRobot(parts, clock)
        relay.state.runtime.notifiers["stuck/webhook/0"] = robot
        dispatcher = relay.state.dispatcher
        dispatcher.limiters = LimiterRegistry(monotonic=lambda: clock[0], sleep=sleep)
        for job in range(jobs):
            await relay.post(webhook(alert(instance=f"i{job}"), group_key=f"g{job}"), receiver="stuck")
        for _ in range(jobs):
            await relay.deliver_all()
    assert len(robot.arrivals) == parts * jobs
    for start in robot.arrivals:  # every window that starts at an arrival
        assert sum(start <= t < start + 60.0 for t in robot.arrivals) <= 20, robot.arrivals


class Throttled(Preless):
    """A robot that says "too many" once, then accepts; both integrations share it."""

    rate_limit_key = "robot:shared"
    rate_limits = (Rate(20, 60.0),)
    throttle_block = 600.0

    def __init__(self, answers: list[Exception | None]) -> None:
        self.answers = answers
        self.sent: list[str] = []

    async def send(self, message: Message) -> Delivery:
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.sent.append(message.job_id)
        return Delivery()


@pytest.mark.parametrize(
    ("error", "blocked_for"),
    [
        (RetryableError("errcode_130101", "too fast", throttled=True), 600.0),  # the block time
        (RetryableError("http_429", "slow down", retry_after=30.0, throttled=True), 30.0),
        (RetryableError("http_503", "busy"), 0.0),  # not a throttle: the others go on
    ],
)
async def test_a_throttle_answer_holds_the_whole_destination(
    relay_factory, error: RetryableError, blocked_for: float
) -> None:
    async with relay_factory(two_receivers("http://127.0.0.1:9", "max_in_flight: 16")) as relay:
        robot = Throttled([error])
        relay.state.runtime.notifiers["stuck/webhook/0"] = robot
        await relay.post(webhook(alert(instance="a"), group_key="a"), receiver="stuck")
        dispatcher = relay.state.dispatcher
        try:
            await dispatcher.run_once()
            await settle()
            state = dispatcher.limiters.state("robot:shared")
            assert state is not None
            assert state["blocked_for"] == pytest.approx(blocked_for, abs=1.0)
        finally:
            await dispatcher.stop(grace=1.0)


def test_only_a_big_job_goes_to_the_cpu_worker() -> None:
    assert not is_big({"alerts": [{}] * OFF_LOOP_ITEMS})
    assert is_big({"alerts": [{}] * (OFF_LOOP_ITEMS + 1)})
    assert is_big({"digest": {"entries": [{}] * (OFF_LOOP_ITEMS + 1)}})
    assert not is_big({"digest": {"entries": []}}) and not is_big({"alerts": "odd"})
