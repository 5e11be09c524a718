"""The delivery log's API with 1,000 and with 100,000 stored notifications, per backend.

    python -m bench.console [--small 1000] [--large 100000] [--repeat 40] [--no-write]

For each store (SQLite, and Redis on a private redis-server) and each size, the store is
filled with notifications over 5 receivers and all four statuses, then
GET /api/v1/notifications is timed through the real app (ASGI, auth, JSON) for: the first
page, a deep page (the cursor of a job 90% down the log), and a filtered first page
(receiver + status=delivered). Medians of --repeat requests; the target is that the large
store costs at most 1.5x the small one (keyset pages over indexes: no OFFSET, no scan).
Results go to the "Console" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from relay.config import parse_config
from relay.core.clock import FakeClock
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import Attempt, NewJob
from relay.obs.metrics import Metrics
from relay.store.base import JobQuery, Store
from relay.store.redis import RedisStore
from relay.store.sqlite import SQLiteStore
from relay.web.console.cursor import encode_job_cursor
from relay.web.service import create_app

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
RECEIVERS = 5
T0 = 1_700_000_000.0
CONFIG = """
route: {receiver: r0}
receivers:
""" + "".join(f"  - name: r{i}\n    log_configs: [{{}}]\n" for i in range(RECEIVERS))


def payload(i: int) -> dict[str, object]:
    labels = {"alertname": f"Alert{i % 50}", "instance": f"node-{i}:9100", "severity": "warning"}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": "disk 93%"},
        "startsAt": "2026-11-22T06:25:51.820407Z",
        "endsAt": None,
        "generatorURL": "",
        "fingerprint": f"{i:016x}",
    }
    return {
        "receiver": f"r{i % RECEIVERS}",
        "group_key": f"g{i % 500}",
        "status": "firing",
        "alerts": [alert],
        "group_labels": {},
        "common_labels": labels,
        "common_annotations": {},
        "external_url": "",
        "truncated_alerts": 0,
        "reason": "new_alerts",
    }


async def fill(store: Store, n: int) -> None:
    """n jobs, one second apart; three in four delivered, some dead, the rest pending."""
    batch = 500
    for start in range(0, n, batch):
        jobs = [
            NewJob(
                id=f"{i:032x}",
                receiver=f"r{i % RECEIVERS}",
                integration=f"r{i % RECEIVERS}/log/0",
                group_key=f"g{i % 500}",
                payload=payload(i),
                created_at=T0 + i,
            )
            for i in range(start, min(n, start + batch))
        ]
        state = GroupState(key=f"fill{start}", receiver="r0", route_id="0", labels={})

        def put(
            _old: GroupState | None, jobs: list[NewJob] = jobs, state: GroupState = state
        ) -> TransitionResult:
            return TransitionResult(state, jobs)

        await store.apply([GroupUpdate(f"fill{start}", put)])
        claimed = await store.claim_jobs("bench", T0 + n + 10, batch, 600)

        def outcome(i: int) -> str:
            return "delivered" if i % 4 else ("dead" if i % 8 == 0 else "retry")

        # 50 at a time: SQLite commits them together (group commit).
        for first in range(0, len(claimed), 50):
            await asyncio.gather(
                *(
                    store.record_attempt(
                        job,
                        Attempt(
                            at=T0 + n + 11,
                            duration=0.1,
                            outcome=outcome(int(job.id, 16)),  # type: ignore[arg-type]
                            reason="ok",
                        ),
                        next_attempt_at=T0 + 10 * n,
                    )
                    for job in claimed[first : first + 50]
                )
            )


async def timed(call: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await call()  # type: ignore[misc]
        samples.append(time.perf_counter() - started)
        assert isinstance(answer, httpx.Response) and answer.status_code == 200, answer
    return statistics.median(samples) * 1000


async def measure(store: Store, n: int, repeat: int) -> dict[str, float]:
    await store.open()
    try:
        await fill(store, n)
        app = create_app(
            parse_config(CONFIG, env={}),
            store=store,
            clock=FakeClock(T0 + 2 * n),
            metrics=Metrics(),
            background=False,
        )
        # The job 90% down the log (created 10% of n after the first): its cursor.
        deep = encode_job_cursor((T0 + n // 10, f"{n // 10:032x}"))
        check = await store.query_jobs(JobQuery(limit=1))
        assert check.jobs, "the store is empty"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://relay"
        ) as client:
            url = "/api/v1/notifications"

            async def first() -> httpx.Response:
                return await client.get(url, params={"limit": 50})

            async def deep_page() -> httpx.Response:
                return await client.get(url, params={"limit": 50, "cursor": deep})

            async def filtered() -> httpx.Response:
                return await client.get(url, params={"limit": 50, "receiver": "r3", "status": "delivered"})

            for call in (first, deep_page, filtered):  # warm caches once
                await call()
            return {
                "first": await timed(first, repeat),
                "deep": await timed(deep_page, repeat),
                "filtered": await timed(filtered, repeat),
            }
    finally:
        await store.close()


async def run(args: argparse.Namespace) -> dict[str, dict[int, dict[str, float]]]:
    results: dict[str, dict[int, dict[str, float]]] = {"sqlite": {}, "redis": {}}
    from tests.helpers.redis_server import RedisServer

    redis = RedisServer()
    redis.start()
    try:
        with tempfile.TemporaryDirectory(prefix="relay-bench-console-") as tmp:
            for n in (args.small, args.large):
                print(f"sqlite, {n} notifications ...", flush=True)
                results["sqlite"][n] = await measure(
                    SQLiteStore(Path(tmp) / f"{n}.db", synchronous="normal"), n, args.repeat
                )
                print(f"redis, {n} notifications ...", flush=True)
                results["redis"][n] = await measure(
                    RedisStore.from_url(f"{redis.url}?prefix=bench{n}:"), n, args.repeat
                )
    finally:
        redis.stop()
    return results


def report(results: dict[str, dict[int, dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        "## Console (`bench/console.py`)",
        "",
        f"Command: `make bench` (runs `python -m bench.console --small {args.small} "
        f"--large {args.large} --repeat {args.repeat}`).",
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "GET /api/v1/notifications through the app (ASGI, JSON), 50 per page, median of "
        f"{args.repeat} requests in ms: the first page, a deep page (cursor 90% down the log) "
        "and a filtered first page (receiver + status=delivered). Target: the large store at "
        "most 1.5x the small one.",
        "",
        f"| store | page | {args.small} ms | {args.large} ms | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for backend, sizes in results.items():
        for page in ("first", "deep", "filtered"):
            small, large = sizes[args.small][page], sizes[args.large][page]
            lines.append(f"| {backend} | {page} | {small:.2f} | {large:.2f} | {large / small:.2f}x |")
    return "\n".join(lines) + "\n"


def write(section: str) -> None:
    existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    marker = "## Console (`bench/console.py`)"
    if marker in existing:
        head, rest = existing.split(marker, 1)
        nxt = rest.find("\n## ")
        existing = head + (rest[nxt + 1 :] if nxt != -1 else "")
    if "\n## History" in existing:
        head, tail = existing.split("\n## History", 1)
        existing = head.rstrip() + "\n\n" + section + "\n## History" + tail
    else:
        existing = existing.rstrip() + "\n\n" + section
    RESULTS.write_text(existing)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    section = report(asyncio.run(run(args)), args)
    print(section)
    if not args.no_write:
        write(section)


if __name__ == "__main__":
    main()
