"""Parallel sends: a destination without a rate limit gets several groups at once, a
group's notifications still arrive in order, and a rate-limited one is sent one at a time.

The differential test runs random sequences through the senders once with one sender
(the order relay kept before parallel sends) and once with eight, and compares what each
group received.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from relay.config.sections import DeliveryConfig
from relay.core.jobs import Job
from relay.core.rates import Rate
from relay.pipeline.lanes import Lanes
from tests.helpers.notifiers import Fast, Hanging, settle, two_receivers
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook

NAP = 0.005


class GatheringSink:
    """Holds each request until ``gather`` are in at once (or ``wait`` seconds pass), and
    records the most it held at once: a sender that waits for each answer never gets
    past one."""

    def __init__(self, gather: int, wait: float) -> None:
        self.most = 0
        self.received = 0
        state = threading.Lock()
        holding = [0]
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with state:
                    holding[0] += 1
                    sink.received += 1
                    sink.most = max(sink.most, holding[0])
                # Counted naps, not a timed wait: the test runs under libfaketime too
                # (make test-shifted-clock), where a condition's timeout is not reliable.
                for _ in range(int(wait / NAP)):
                    with state:
                        if holding[0] >= gather:
                            break
                    time.sleep(NAP)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with state:
                    holding[0] -= 1

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def hook_config(url: str, delivery: str = "") -> str:
    return f"""
delivery: {{timeout: 5s{delivery}}}
route:
  receiver: hook
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}/hook"}}]
"""


@pytest.mark.parametrize(("delivery", "most"), [("", 6), (", parallel_sends_per_integration: 1", 1)])
async def test_a_webhook_gets_several_groups_at_once(relay_factory, delivery: str, most: int) -> None:
    sink = GatheringSink(gather=6, wait=0.5)
    try:
        async with relay_factory(hook_config(sink.url, delivery)) as relay:
            for i in range(6):
                await relay.post(webhook(alert(instance=f"n{i}"), group_key=f"g{i}"))
            await relay.state.dispatcher.run_once()
            await relay.state.dispatcher.settle()
            assert sink.received == 6
            assert sink.most == most
            assert {j.status for j in await relay.jobs()} == {"delivered"}
    finally:
        sink.close()


def test_parallel_sends_never_exceed_the_integrations_share() -> None:
    assert DeliveryConfig().parallel_sends == 8
    assert DeliveryConfig(max_in_flight=16).parallel_sends == 2  # share 16 // 8
    assert DeliveryConfig(parallel_sends_per_integration=3).parallel_sends == 3


async def test_a_destination_with_a_rate_limit_is_sent_one_at_a_time(relay_factory) -> None:
    async with relay_factory(two_receivers("http://127.0.0.1:9", "max_in_flight: 64")) as relay:
        limited = Hanging()
        limited.rate_limit_key = "robot"
        limited.rate_limits = (Rate(1000, 1.0),)  # a limit it never reaches
        relay.state.runtime.notifiers["stuck/webhook/0"] = limited
        for i in range(5):
            await relay.post(webhook(alert(instance=f"s{i}"), group_key=f"s{i}"), receiver="stuck")
        dispatcher = relay.state.dispatcher
        try:
            await dispatcher.run_once()
            await settle()
            # What waits behind the one being sent stays queued, where a storm can merge it.
            assert len(limited.started) == 1
            assert dispatcher.held() == {"stuck/webhook/0": 5}
        finally:
            limited.release.set()
            await dispatcher.stop(grace=1.0)


async def test_a_groups_resolved_never_overtakes_its_firing(relay_factory) -> None:
    rng = random.Random(7)
    with Sink() as sink:
        # Random answer times, so a later request would often be answered first.
        sink.answer(*[Answer(delay=rng.uniform(0, 0.05)) for _ in range(40)])
        async with relay_factory(hook_config(sink.url)) as relay:
            for i in range(20):
                await relay.post(webhook(alert(instance=f"n{i}"), group_key=f"g{i}"))
                await relay.post(webhook(alert(instance=f"n{i}", status="resolved"), group_key=f"g{i}"))
            while await relay.state.dispatcher.run_once():  # its share (8) at a time
                await relay.state.dispatcher.settle()
            seen: dict[str, list[str]] = defaultdict(list)
            for request in sink.received:
                body = json.loads(request.body)
                seen[body["groupKey"]].append(body["status"])
            assert seen == {f"g{i}": ["firing", "resolved"] for i in range(20)}


# -- the senders themselves, against one sender, over random sequences ----------------------


def job(index: int, group: str) -> Job:
    return Job(
        id=f"j{index:04d}",
        receiver="r",
        integration="r/webhook/0",
        group_key=group,
        payload={},
        created_at=float(index),
        status="pending",
        next_attempt_at=float(index),
    )


async def run_lanes(seed: int, senders: int) -> tuple[list[str], dict[str, str], int]:
    """Random batches put while earlier ones are sent, each send taking random turns of
    the loop, some batches taken out and put back (a storm's merge that merged nothing).
    The batches depend on ``seed`` only, the timing on ``seed`` and ``senders``. Returns
    the order jobs were sent in, each job's group, and the most sent at once."""
    batches = random.Random(seed)
    turns = random.Random(seed * 31 + senders)
    sent: list[str] = []
    groups: dict[str, str] = {}
    groups_sending: set[str] = set()
    now = [0, 0]  # sending now, most at once

    async def send(one: Job) -> None:
        assert one.group_key not in groups_sending, "two jobs of one group sent at once"
        groups_sending.add(one.group_key)
        now[0] += 1
        now[1] = max(now[1], now[0])
        for _ in range(turns.randint(0, 6)):
            await asyncio.sleep(0)
        sent.append(one.id)
        now[0] -= 1
        groups_sending.discard(one.group_key)

    lanes = Lanes(send)
    integration = "r/webhook/0"
    index = 0
    for _ in range(batches.randint(3, 12)):
        batch = [job(index + k, f"g{batches.randint(0, 4)}") for k in range(batches.randint(1, 8))]
        groups.update((one.id, one.group_key) for one in batch)
        index += len(batch)
        waiting = lanes.take_all(integration) if batches.random() < 0.3 else []
        lanes.put(integration, [*waiting, *batch], senders)
        for _ in range(batches.randint(0, 10)):
            await asyncio.sleep(0)
    while lanes.senders():
        await asyncio.gather(*lanes.senders())
    assert lanes.queued(integration) == 0
    return sent, groups, now[1]


def by_group(order: list[str], groups: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for job_id in order:
        found[groups[job_id]].append(job_id)
    return dict(found)


async def test_parallel_senders_keep_each_groups_order_as_one_sender_does() -> None:
    widened = 0
    for seed in range(300):
        one, groups, most_one = await run_lanes(seed, 1)
        eight, same_groups, most_eight = await run_lanes(seed, 8)
        assert same_groups == groups
        assert most_one == 1
        assert one == sorted(groups), seed  # one sender: every job once, in queue order
        assert sorted(eight) == sorted(groups) and len(set(eight)) == len(eight), seed
        assert by_group(eight, groups) == by_group(one, groups), seed
        widened += most_eight > 1
    # The random sequences do send several at once: the comparison is not vacuous.
    assert widened > 100


async def test_a_replacement_is_claimed_while_an_attempt_is_recorded(relay_factory) -> None:
    """A sender that finished its attempt and waits for the store to record it is no
    longer at the destination: the job that takes its place is claimed meanwhile, and
    sent by that sender once the record is committed (not after a claim of its own).
    What is sent or being recorded at once stays within parallel sends (here 2: the
    share of max_in_flight 16), so a kill -9 still sends at most that many again."""
    async with relay_factory(two_receivers("http://127.0.0.1:9", "max_in_flight: 16")) as relay:
        fast = Fast()
        relay.state.runtime.notifiers["stuck/webhook/0"] = fast
        for i in range(4):
            await relay.post(webhook(alert(instance=f"r{i}"), group_key=f"r{i}"), receiver="stuck")
        store = relay.state.store
        committed = asyncio.Event()
        recording: list[str] = []
        record_attempt = store.record_attempt

        async def slow_record(job: Job, *args: Any, **kwargs: Any) -> None:
            recording.append(job.id)
            await committed.wait()
            await record_attempt(job, *args, **kwargs)

        store.record_attempt = slow_record  # type: ignore[method-assign]
        dispatcher = relay.state.dispatcher
        try:
            assert await dispatcher.run_once() == 2  # the share
            await settle()
            assert len(fast.sent) == 2 and len(recording) == 2
            # Both attempts are being recorded: their replacements are claimed now...
            assert await dispatcher.run_once() == 2
            await settle()
            # ...and wait for the senders, so no more than 2 are sent or recorded at once.
            assert len(fast.sent) == 2
            assert await dispatcher.run_once() == 0  # the share is full again
            committed.set()
            await dispatcher.settle()
            assert len(fast.sent) == 4
            assert {j.status for j in await relay.jobs()} == {"delivered"}
            assert not dispatcher._recording  # nothing left counted as being recorded
        finally:
            committed.set()
            await dispatcher.stop(grace=1.0)
