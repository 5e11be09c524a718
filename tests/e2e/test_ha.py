"""Several real `relay serve` replicas sharing one real Redis (the HA deployment).

* an Alertmanager HA pair posts every webhook to two replicas at the same moment:
  exactly one message per change reaches the destination;
* ``kill -9`` of a replica holding leased jobs against a slow destination: the others
  take the jobs over after the lease and deliver them; only the attempts that were in
  flight are sent twice;
* Redis stopped for a few seconds: webhooks are answered 503 with Retry-After, never
  200 and then lost; /-/ready says not ready; both recover on their own, and everything
  accepted is delivered.
"""

from __future__ import annotations

import collections
import itertools
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import redis

from relay.config.sections import DeliveryConfig
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.redis_server import RedisServer
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook

PREFIX = "ha:"


def write_config(tmp_path: Path, redis_url: str, sink_port: int, lease: str = "3s") -> Path:
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(f"""
        storage:
          url: "{redis_url}?prefix={PREFIX}"
        delivery:
          timeout: 5s
          retry_for: 1h
          backoff_initial: 0.2s
          backoff_max: 1s
          lease: {lease}
        route:
          receiver: hook
        receivers:
          - name: hook
            webhook_configs:
              - url: http://127.0.0.1:{sink_port}/hook
    """)
    )
    return path


def start_replicas(stack: ExitStack, config: Path, count: int) -> list[RelayProcess]:
    replicas = []
    for _ in range(count):
        relay = RelayProcess(config)
        stack.callback(relay.stop)
        replicas.append(relay.start())
    return replicas


def group_webhook(i: int, status: str = "firing") -> dict[str, Any]:
    return webhook(alert(instance=f"node-{i}", status=status), group_key=f'{{}}:{{instance="node-{i}"}}')


def post(relay: RelayProcess, payload: dict[str, Any], timeout: float = 10) -> httpx.Response:
    return httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=payload, timeout=timeout)


def keys_received(sink: Sink) -> collections.Counter[str]:
    with sink._lock:
        return collections.Counter(r.headers["Idempotency-Key"] for r in sink.received)


def logs(replicas: list[RelayProcess]) -> str:
    return "\n".join(f"--- {r.url}\n{r.log()}" for r in replicas)


def test_an_ha_pair_posting_the_same_webhooks_yields_one_message_per_change(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    groups = 12
    with ExitStack() as stack:
        sink = stack.enter_context(Sink())
        config = write_config(tmp_path, redis_server.url, sink.port)
        replicas = start_replicas(stack, config, 3)
        pair = replicas[:2]  # the third replica only delivers
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=2 * groups))

        def both_at_once(payloads: list[dict[str, Any]]) -> None:
            barrier = threading.Barrier(2 * len(payloads))

            def send(relay: RelayProcess, payload: dict[str, Any]) -> int:
                barrier.wait(10)
                return post(relay, payload).status_code

            futures = [pool.submit(send, relay, p) for p in payloads for relay in pair]
            assert [f.result(30) for f in futures] == [200] * len(futures), logs(replicas)

        both_at_once([group_webhook(i) for i in range(groups)])  # change 1: firing
        both_at_once([group_webhook(i) for i in range(groups)])  # a re-send: no change
        both_at_once([group_webhook(i, "resolved") for i in range(groups)])  # change 2

        expected = 2 * groups
        assert wait_for(lambda: sink.count() >= expected, timeout=30), logs(replicas)
        time.sleep(1.5)  # room for a duplicate to show up, if there were one
        messages = collections.Counter(
            (r.json()["alerts"][0]["labels"]["instance"], r.json()["status"]) for r in sink.received
        )
        assert messages == {(f"node-{i}", s): 1 for i in range(groups) for s in ("firing", "resolved")}
        jobs = replicas[2].settled_jobs(expected)
        assert len(jobs) == expected
        assert {j["status"] for j in jobs} == {"delivered"}
        assert max(keys_received(sink).values()) == 1


def running_owners(client: redis.Redis) -> dict[str, str]:
    """Job id -> the replica holding its lease, read straight from Redis."""
    held = {}
    for key in client.scan_iter(f"{PREFIX}j:*", count=1000):
        status, owner = client.hmget(key, "status", "owner")
        if status == "running":
            held[key.removeprefix(f"{PREFIX}j:")] = owner
    return held


def test_kill_9_of_a_replica_holding_leases_loses_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    jobs = 12
    with ExitStack() as stack:
        sink = stack.enter_context(Sink(default=Answer(delay=0.4)))  # a slow destination
        config = write_config(tmp_path, redis_server.url, sink.port, lease="2s")
        replicas = start_replicas(stack, config, 3)
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        stack.callback(client.close)
        for i in range(jobs):
            assert post(replicas[i % 3], group_webhook(i)).status_code == 200

        def victim_with_leases() -> tuple[RelayProcess, set[str]] | None:
            held = running_owners(client)
            for relay in replicas:
                assert relay.proc is not None
                mine = {j for j, owner in held.items() if owner.endswith(f"-{relay.proc.pid}")}
                if len(mine) >= 3:
                    return relay, mine
            return None

        assert wait_for(lambda: victim_with_leases() is not None, timeout=10), logs(replicas)
        found = victim_with_leases()
        assert found is not None
        victim, _ = found
        victim.kill9()
        held = {
            j
            for j, owner in running_owners(client).items()
            if victim.proc is not None and owner.endswith(f"-{victim.proc.pid}")
        }
        assert held, "the killed replica held no leases any more"
        killed_at = time.time()
        survivors = [r for r in replicas if r is not victim]

        assert wait_for(lambda: len(keys_received(sink)) >= jobs, timeout=40), logs(survivors)
        time.sleep(1.0)  # let the last answers be recorded
        received = keys_received(sink)
        stored = survivors[0].jobs()
        assert len(stored) == jobs
        assert set(received) == {j["id"] for j in stored}
        assert wait_for(lambda: {j["status"] for j in survivors[0].jobs()} == {"delivered"}, timeout=10), (
            logs(survivors)
        )
        # Only the attempts the killed replica had in flight may have been sent twice (a
        # webhook is sent up to parallel_sends at once).
        duplicates = {key for key, n in received.items() if n > 1}
        assert len(duplicates) <= DeliveryConfig().parallel_sends and duplicates <= held, (duplicates, held)
        assert max(received.values()) <= 2
        # The jobs it held were sent by the survivors, after it died.
        with sink._lock:
            after = {r.headers["Idempotency-Key"] for r in sink.received if r.at > killed_at}
        assert held <= after


def test_redis_outage_answers_503_and_everything_accepted_is_delivered(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with ExitStack() as stack:
        # Slow enough that deliveries are under way when Redis goes: their attempts
        # cannot be recorded, and the jobs must still be delivered in the end.
        sink = stack.enter_context(Sink(default=Answer(delay=0.1)))
        config = write_config(tmp_path, redis_server.url, sink.port)
        replicas = start_replicas(stack, config, 2)
        answers: dict[int, list[tuple[int, str | None]]] = collections.defaultdict(list)
        stop = threading.Event()
        counter = itertools.count()

        def keep_posting(relay: RelayProcess) -> None:
            while not stop.is_set():
                i = next(counter)
                try:
                    response = post(relay, group_webhook(i), timeout=10)
                    answers[i].append((response.status_code, response.headers.get("retry-after")))
                except httpx.HTTPError as exc:  # recorded, and fails the test below
                    answers[i].append((0, repr(exc)))
                time.sleep(0.02)

        posters = [threading.Thread(target=keep_posting, args=(r,), daemon=True) for r in replicas]
        for thread in posters:
            thread.start()
        stack.callback(stop.set)

        def ready(relay: RelayProcess) -> int:
            try:
                return httpx.get(f"{relay.url}/-/ready", timeout=5).status_code
            except httpx.HTTPError:
                return 0

        time.sleep(1.0)
        redis_server.stop()
        assert wait_for(lambda: all(ready(r) == 503 for r in replicas), timeout=10), logs(replicas)
        time.sleep(3.0)
        redis_server.start()  # same port, same append-only file
        assert wait_for(lambda: all(ready(r) == 200 for r in replicas), timeout=15), logs(replicas)
        time.sleep(1.0)
        stop.set()
        for thread in posters:
            thread.join(15)

        outcomes = [a for answer in answers.values() for a in answer]
        assert {status for status, _ in outcomes} == {200, 503}, outcomes
        assert all(retry_after == "5" for status, retry_after in outcomes if status == 503)
        # Alertmanager retries what was answered 503; now every one is accepted.
        refused = sorted(i for i, answer in answers.items() if answer[-1][0] != 200)
        for i in refused:
            assert post(replicas[i % 2], group_webhook(i)).status_code == 200
        posted = set(answers)

        def delivered() -> set[str]:
            with sink._lock:
                return {r.json()["alerts"][0]["labels"]["instance"] for r in sink.received}

        assert wait_for(lambda: delivered() >= {f"node-{i}" for i in posted}, timeout=30), (
            sorted({f"node-{i}" for i in posted} - delivered()),
            logs(replicas),
        )
        assert len(refused) >= 1
