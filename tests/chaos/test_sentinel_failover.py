"""A Redis failover under load, with real processes: a primary, one replica and three
sentinels (tests.helpers.sentinel), two `relay serve` replicas on ``redis+sentinel://``,
and a steady 100 webhooks/s of new groups split between them, posted the way
Alertmanager does (a 503 is sent again after a pause, until it is a 200).

After 4 s the primary is killed with SIGKILL; the sentinels promote the replica; 3 s
later the old primary is started again (a supervisor would) and the sentinels make it a
replica of the new one. The load goes on to 14 s.

With ``min_replicas_acked: 1`` every webhook answered 200 has its notification delivered
(0 lost): relay answers 200 only for writes the replica holds. Sent twice is at-least-once
(a delivery recorded on the dead primary and not replicated is sent again), bounded and
reported. With ``min_replicas_acked: 0`` the same run reports what a 200 can lose.

The figures (``FAILOVER <mode>: {...}``) are printed for docs/ha.md:
``pytest tests/chaos/test_sentinel_failover.py -s``.
"""

from __future__ import annotations

import collections
import json
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_binary
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.sentinel import SentinelSet
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e

RATE = 100  # new groups per second
LOAD_SECONDS = 14.0
KILL_AT, RESTART_AFTER = 4.0, 3.0


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    with SentinelSet(require_binary("redis-server"), down_after=1000) as found:
        yield found


def config(tmp_path: Path, url: str, sink: Sink, replicas: int) -> Path:
    path = tmp_path / f"relay-{replicas}.yml"
    path.write_text(
        textwrap.dedent(f"""
        storage:
          url: "{url}?prefix=failover:"
          min_replicas_acked: {replicas}
          replica_ack_timeout: 1s
        delivery: {{timeout: 5s, retry_for: 1h, backoff_initial: 0.2s, backoff_max: 1s, lease: 5s}}
        route: {{receiver: hook}}
        receivers:
          - name: hook
            webhook_configs: [{{url: "http://127.0.0.1:{sink.port}/hook"}}]
        """)
    )
    return path


class Load:
    """RATE new groups per second, each posted until answered 200 (as Alertmanager would
    retry), alternating between the replicas."""

    def __init__(self, replicas: list[RelayProcess]) -> None:
        self.replicas = replicas
        self.accepted: dict[int, float] = {}  # group -> when it was answered 200
        self.refused: list[tuple[float, int]] = []  # (when, status) of each non-200 answer
        self.never: list[int] = []
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def post_until_accepted(self, i: int) -> None:
        body = webhook(alert(instance=f"node-{i}"), group_key=f'{{}}:{{instance="node-{i}"}}')
        deadline = time.monotonic() + 60
        tries = 0
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                relay = self.replicas[(i + tries) % len(self.replicas)]
                tries += 1
                try:
                    status = client.post(f"{relay.url}/api/v1/alerts/webhook", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                now = time.monotonic() - self.started
                if status == 200:
                    with self._lock:
                        self.accepted[i] = now
                    return
                with self._lock:
                    self.refused.append((now, status))
                time.sleep(0.5)
        with self._lock:
            self.never.append(i)

    def run(self, pool: ThreadPoolExecutor, seconds: float) -> list[Any]:
        futures = []
        for i in range(int(seconds * RATE)):
            target = self.started + i / RATE
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(self.post_until_accepted, i))
        return futures


@pytest.mark.parametrize("min_replicas_acked", [1, 0])
def test_a_primary_killed_under_load(tmp_path: Path, sentinels: SentinelSet, min_replicas_acked: int) -> None:
    with ExitStack() as stack:
        sink = stack.enter_context(Sink())
        path = config(tmp_path, sentinels.url, sink, min_replicas_acked)
        replicas = []
        for _ in range(2):
            relay = RelayProcess(path)
            stack.callback(relay.stop)
            replicas.append(relay.start())
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=64))
        load = Load(replicas)
        primary_gone: dict[str, float] = {}

        def fault() -> None:
            time.sleep(KILL_AT)
            old = sentinels.primary_port()
            sentinels.kill9_primary()
            primary_gone["killed"] = time.monotonic() - load.started
            while sentinels.primary_port() in (old, None):
                time.sleep(0.05)
            primary_gone["promoted"] = time.monotonic() - load.started
            time.sleep(RESTART_AFTER)
            sentinels.primary.start()
            primary_gone["restarted"] = time.monotonic() - load.started

        chaos = threading.Thread(target=fault)
        chaos.start()
        futures = load.run(pool, LOAD_SECONDS)
        for future in futures:
            future.result(90)
        chaos.join(30)

        accepted = set(load.accepted)
        wait_for(lambda: len(groups_received(sink)) >= len(accepted), timeout=60)
        time.sleep(2)  # room for a late duplicate
        received = groups_received(sink)
        lost = sorted(accepted - set(received))
        twice = sum(1 for count in received.values() if count > 1)
        after_kill = [at for at, _ in load.refused if at >= primary_gone["killed"]]
        first_refused = min(after_kill) if after_kill else primary_gone["killed"]
        back = [at for at in load.accepted.values() if at > (max(after_kill) if after_kill else 0)]
        figures = {
            "webhooks": len(futures),
            "accepted_200": len(accepted),
            "answers_not_200": len(load.refused),
            "lost": len(lost),
            "sent_twice": twice,
            "seconds_without_primary": round(primary_gone["promoted"] - primary_gone["killed"], 2),
            "seconds_ingest_not_200": round((min(back) if back else 0) - first_refused, 2),
            "old_primary_restarted_at": round(primary_gone["restarted"], 2),
        }
        print(f"FAILOVER min_replicas_acked={min_replicas_acked}: {json.dumps(figures)}")
        assert not load.never, (load.never[:10], logs(replicas))
        if min_replicas_acked:
            assert lost == [], (lost[:10], figures, logs(replicas))
        assert twice <= len(futures) * 0.05, figures  # at least once: only what was in flight


def groups_received(sink: Sink) -> collections.Counter[int]:
    with sink._lock:
        bodies = [r.json() for r in sink.received]
    return collections.Counter(int(b["alerts"][0]["labels"]["instance"].split("-")[1]) for b in bodies)


def logs(replicas: list[RelayProcess]) -> str:
    return "\n".join(f"--- {r.url}\n{r.log()[-3000:]}" for r in replicas)
