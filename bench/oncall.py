"""On call at scale: escalation steps with many escalations running, and ingest with
escalation policies configured against the same ingest without.

    python -m bench.oncall [--active 100,10000] [--webhooks 2000] [--rounds 3] [--no-write]

In-process (relay's ASGI app through httpx, ``background=False``), on the fake clock,
on SQLite and on a real redis-server:

- **Per-tick cost.** ``--active`` escalations run, each under a three-step policy; ten
  of them have a step due, the rest wait for theirs a day away. One flush tick (what
  the service runs every 0.5 s) fires the ten due steps; its time is measured, and the
  time of a tick with nothing due. The figure that matters: the cost at 10,000 running
  escalations over the cost at 100 (the due-time index keeps it flat).
- **Ingest overhead.** ``--webhooks`` webhooks, each a new group of a critical alert,
  posted one after another to a relay whose route escalates (the first step rides on
  the first notification, its targets resolved then) and to one whose route does not,
  both open at once and fed in turns of 50; webhooks a second, medians, and the ratio.

Results go to the "On call" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.results import write_section
from relay.config import parse_config
from relay.core.clock import FakeClock
from relay.obs.metrics import Metrics
from relay.store import open_store
from relay.web.service import create_app
from relay.web.state import RelayState
from tests.helpers.redis_server import RedisServer
from tests.helpers.webhooks import alert, webhook

SECTION = "## On call (`bench/oncall.py`)"
T0 = 1_800_000_000.0
DUE = 10

CONFIG = """
storage: {{url: "{storage}"}}
route:
  receiver: ops
  routes:
    - matchers: ['severity="critical"']
      receiver: ops
      {escalation}
    - matchers: ['severity="slow"']
      receiver: ops
      escalation: slow
receivers:
  - {{name: ops, log_configs: [{{}}]}}
people:
  - {{name: zhangsan, display_name: 张三, ids: {{wecom: ZhangSan}}}}
  - {{name: lisi, display_name: 李四, ids: {{wecom: LiSi}}}}
  - {{name: manager}}
schedules:
  - name: sre
    time_zone: Asia/Shanghai
    rotations: [{{people: [zhangsan, lisi], start: "2026-12-07T10:00:00", shift: 1w}}]
escalation_policies:
  - name: sre
    steps:
      - targets: [schedule:sre]
      - {{after: 5m, targets: [schedule:sre]}}
      - {{after: 15m, targets: [schedule:sre, person:manager]}}
  - name: slow
    steps:
      - targets: [schedule:sre]
      - {{after: 1d, targets: [schedule:sre]}}
      - {{after: 2d, targets: [person:manager]}}
"""


@asynccontextmanager
async def relay(storage: str, *, escalation: bool) -> AsyncIterator[tuple[RelayState, httpx.AsyncClient]]:
    text = CONFIG.format(storage=storage, escalation="escalation: sre" if escalation else "")
    config = parse_config(text, env={})
    clock = FakeClock(T0)
    app = create_app(
        config, store=open_store(config.storage.url), clock=clock, metrics=Metrics(), background=False
    )
    state: RelayState = app.state.relay
    async with (
        state.running(background=False),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as client,
    ):
        yield state, client


async def post(client: httpx.AsyncClient, name: str, severity: str) -> None:
    body = webhook(alert(name, severity=severity), group_key=f'{{}}:{{alertname="{name}"}}')
    answer = await client.post("/api/v1/alerts/webhook", json=body)
    assert answer.status_code == 200, answer.text


async def tick_cost(storage: str, active: int) -> dict[str, float]:
    """Seconds of one flush tick with DUE steps due among ``active`` escalations, and of
    one with nothing due."""
    async with relay(storage, escalation=True) as (state, client):
        clock = state.clock
        assert isinstance(clock, FakeClock)
        for i in range(active - DUE):
            await post(client, f"Slow{i}", "slow")
        for i in range(DUE):
            await post(client, f"Hot{i}", "critical")
        await state.flush_due()  # nothing due yet: warms the path
        clock.advance(60)
        started = time.perf_counter()
        await state.flush_due()
        idle = time.perf_counter() - started
        clock.advance(240)  # 5m: the hot ones' second step
        started = time.perf_counter()
        await state.flush_due()
        busy = time.perf_counter() - started
        fired = state.metrics.escalation_steps.labels("sre", "2")._value.get()
        assert fired == DUE, fired
        return {"idle": idle, "busy": busy}


async def ingest_rates(storages: tuple[str, str], webhooks: int, offset: int) -> tuple[float, float]:
    """Webhooks a second without and with escalation, each a new group of a critical
    alert: both relays open at once and fed in turns, 50 webhooks at a time, so that
    whatever else the machine does falls on both alike."""
    spent = [0.0, 0.0]
    async with (
        relay(storages[0], escalation=False) as (_, without),
        relay(storages[1], escalation=True) as (_, with_),
    ):
        clients = (without, with_)
        for client in clients:
            await post(client, "Warmup", "critical")
        for batch in range(0, webhooks, 50):
            for side, client in enumerate(clients if batch % 100 == 0 else reversed(clients)):
                side = side if batch % 100 == 0 else 1 - side
                started = time.perf_counter()
                for i in range(batch, min(batch + 50, webhooks)):
                    await post(client, f"New{offset + i}", "critical")
                spent[side] += time.perf_counter() - started
    return webhooks / spent[0], webhooks / spent[1]


def measure(storage_of: dict[str, Any], actives: list[int], webhooks: int, rounds: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for store, make in storage_of.items():
        for active in actives:
            samples = [asyncio.run(tick_cost(make(), active)) for _ in range(rounds)]
            found[(store, active)] = {k: statistics.median(s[k] for s in samples) for k in ("idle", "busy")}
        rates = [asyncio.run(ingest_rates((make(), make()), webhooks, r * webhooks)) for r in range(rounds)]
        found[(store, "ingest")] = tuple(statistics.median(r[side] for r in rates) for side in (0, 1))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--active", default="100,10000")
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()
    logging.getLogger("relay").setLevel(logging.ERROR)  # a throwaway redis-server has no persistence
    actives = [int(a) for a in args.active.split(",")]
    work = Path(tempfile.mkdtemp(prefix="relay-bench-oncall-"))
    binary = shutil.which("redis-server")
    server = RedisServer(binary=binary, data_dir=work / "redis") if binary else None
    try:
        counter = iter(range(1_000_000))
        storage_of: dict[str, Any] = {"SQLite": lambda: f"sqlite:///{work}/r{next(counter)}.db"}
        if server is not None:
            (work / "redis").mkdir()
            server.start()
            storage_of["Redis"] = lambda: f"{server.url}?prefix=b{next(counter)}:"
        found = measure(storage_of, actives, args.webhooks, args.rounds)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        SECTION,
        "",
        f"In-process, fake clock; medians of {args.rounds} rounds, run {day} on {platform.machine()} with"
        f" {os.cpu_count() or 1} cores, `make bench` (`python -m bench.oncall`).",
        "",
        f"One flush tick with {DUE} escalation steps due, among this many running escalations"
        " (three-step policies; the others' next step a day away), milliseconds:",
        "",
        "| store | running | tick with nothing due | tick firing 10 steps | ratio to the smallest |",
        "|---|---|---|---|---|",
    ]
    for store in storage_of:
        base = found[(store, actives[0])]["busy"]
        for active in actives:
            row = found[(store, active)]
            lines.append(
                f"| {store} | {active:,} | {row['idle'] * 1000:.2f} | {row['busy'] * 1000:.1f}"
                f" | {row['busy'] / base:.2f} |"
            )
    lines += [
        "",
        f"Ingest, {args.webhooks:,} webhooks one after another, each a new group of a critical alert"
        " (the first step rides on its first notification), to two relays open side by side and fed"
        " in turns, 50 webhooks at a time; medians of the rounds:",
        "",
        "| store | route without escalation | route with escalation | ratio |",
        "|---|---|---|---|",
    ]
    for store in storage_of:
        without, with_ = found[(store, "ingest")]
        lines.append(f"| {store} | {without:,.0f}/s | {with_:,.0f}/s | {with_ / without:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
