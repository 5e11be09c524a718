"""End to end: webhooks in, notifications delivered to a webhook destination, against a
bare httpx client posting the same number of bodies to the same destination.

    python -m bench.delivery [--notifications 5000] [--rounds 3] [--far-ms 50] [--no-write]

The destination is ``bench/sink_app.py`` in its own uvicorn process. Each round:

- **bare httpx client**: one ``httpx.AsyncClient`` posts ``--notifications`` bodies (the
  5-alert webhook relay would send) to the sink, 8 at a time: the most relay sends to one
  destination at once by default (``delivery.max_in_flight_per_integration`` is
  ``max_in_flight // 8``);
- **relay**: a fresh ``relay serve`` (SQLite, the default ``synchronous=full``, a
  receiver with one ``webhook_configs`` entry to the sink); wrk posts that many webhooks,
  each a new group, over 32 connections; the time is from the first webhook to the sink
  counting the last notification, so it covers ingest, claim, render, send and record.

Then the same against a far destination (``--far-ms``, 50: the sink answers each request
that late), where the round trip sets the pace: the bare client, relay as configured by
default, and relay with ``parallel_sends_per_integration: 1`` (one at a time).

Rounds alternate; medians of the per-round rates, and relay's as a share of the bare
client's, go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.ingest import GROUP_TOKEN, ROOT, Server, five_alert_webhook, free_port
from bench.results import write_section

SECTION = "## End-to-end delivery (`bench/delivery.py`)"
BARE_CONCURRENCY = 8
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]


def counting_wrk_script(body: str, total: int) -> str:
    """wrk's Lua: a new groupKey per request, and the thread stops after ``total``."""
    escaped = body.replace("\\", "\\\\").replace('"', '\\"')
    return textwrap.dedent(f"""
        local counter = 0
        local answered = 0
        local template = "{escaped}"
        request = function()
          counter = counter + 1
          local body = string.gsub(template, "{GROUP_TOKEN}", "delivery-" .. counter, 1)
          return wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, body)
        end
        response = function(status, headers, body)
          answered = answered + 1
          if answered >= {total} then wrk.thread:stop() end
        end
    """)


@functools.cache
def _poller() -> httpx.Client:
    """One client for every look at the sink's count. httpx.get() builds a client, and its
    TLS context, on each call: 28 ms of CPU here. Polled every 20 ms while relay
    delivered, that took half a core from the two processes measured (relay and the
    sink), and none from the bare client's rounds, which count their own answers."""
    return httpx.Client(timeout=5)


def sink_count(sink: str) -> int:
    return int(_poller().get(f"{sink}/count").text)


async def in_parallel(send: Callable[[], Awaitable[object]], total: int) -> float:
    """``send()`` ``total`` times, :data:`BARE_CONCURRENCY` at once; the seconds it took."""
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            await send()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(BARE_CONCURRENCY)))
    return time.perf_counter() - started


async def bare_client(sink: str, body: bytes, total: int) -> float:
    """Notifications per second a bare httpx client posts to the sink."""
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=BARE_CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def post() -> None:
            response = await client.post(f"{sink}/hook", content=body, headers=headers)
            response.raise_for_status()

        return total / await in_parallel(post, total)


RUNS = itertools.count()


def relay_round(tmp: Path, sink: str, body: str, total: int, delivery: str = "{}") -> float:
    """Notifications per second through a fresh relay, first webhook to last delivery.
    ``delivery``: the config's ``delivery:`` section, as YAML flow."""
    port = free_port()
    name = next(RUNS)  # a fresh database each time
    config = tmp / f"relay-{name}.yml"
    config.write_text(
        textwrap.dedent(f"""
            storage:
              url: "sqlite:///{tmp}/delivery-{name}.db"
            delivery: {delivery}
            route:
              receiver: sink
            receivers:
              - name: sink
                webhook_configs: [{{url: "{sink}/hook"}}]
        """)
    )
    script = tmp / "delivery.lua"
    script.write_text(counting_wrk_script(body, total))
    argv = [sys.executable, "-m", "relay", "serve", "--config", str(config)]
    first = sink_count(sink)
    relay = Server("relay", [*argv, "--listen", f"127.0.0.1:{port}", "--log-level", "warning"], port, tmp)
    try:
        # Server() posted one webhook to see it up: wait for its notification, then start.
        deadline = time.monotonic() + 30
        while sink_count(sink) <= first and time.monotonic() < deadline:
            time.sleep(0.05)
        before = sink_count(sink)
        started = time.perf_counter()
        # wrk stops posting after `total` answers but stays up for its -d: it is
        # stopped once the sink has them all.
        wrk = subprocess.Popen(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                "32",
                "-d",
                "300s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/api/v1/alerts/webhook",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 280
            while sink_count(sink) - before < total:
                if time.monotonic() > deadline or wrk.poll() is not None:
                    raise RuntimeError(f"only {sink_count(sink) - before} of {total} notifications arrived")
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            wrk.terminate()
            out, _ = wrk.communicate()
        if "Non-2xx" in out:
            raise RuntimeError(f"relay refused webhooks:\n{out}")
        return total / elapsed
    finally:
        relay.stop()


#: The far destination's targets: a bare client, relay as configured by default, and
#: relay sending one notification at a time (as it did before parallel sends).
FAR_TARGETS: dict[str, str | None] = {
    "bare httpx client": None,
    "relay (default: 8 at once)": "{}",
    "relay, parallel_sends_per_integration: 1": "{parallel_sends_per_integration: 1}",
}


@contextlib.contextmanager
def sink_process(delay_ms: int = 0) -> Iterator[str]:
    """The sink in its own uvicorn process; yields its URL."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.sink_app:app", "--port", str(port), *UVICORN_FLAGS]
    server = Server("sink", argv, port, ROOT, env={"SINK_DELAY_MS": str(delay_ms)}, ready_path="/hook")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--far-ms", type=int, default=50, help="the far destination's answer time")
    parser.add_argument("--far-notifications", type=int, default=400)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    body = json.dumps(five_alert_webhook(), ensure_ascii=False)
    bare_body = body.replace(GROUP_TOKEN, "bare").encode()
    bare: list[float] = []
    relay: list[float] = []
    far: dict[str, list[float]] = {name: [] for name in FAR_TARGETS}
    with tempfile.TemporaryDirectory(prefix="relay-delivery-") as tmp_name:
        tmp = Path(tmp_name)
        with sink_process() as sink:
            for round_no in range(args.rounds):
                bare.append(asyncio.run(bare_client(sink, bare_body, args.notifications)))
                print(f"round {round_no + 1} bare httpx client {bare[-1]:8.0f} notifications/s", flush=True)
                relay.append(relay_round(tmp, sink, body, args.notifications))
                print(f"round {round_no + 1} relay             {relay[-1]:8.0f} notifications/s", flush=True)
        with sink_process(delay_ms=args.far_ms) as sink:
            for round_no in range(args.rounds):
                for name, delivery in FAR_TARGETS.items():
                    if delivery is None:
                        rate = asyncio.run(bare_client(sink, bare_body, args.far_notifications))
                    else:
                        rate = relay_round(tmp, sink, body, args.far_notifications, delivery)
                    far[name].append(rate)
                    print(f"round {round_no + 1} far: {name:<40} {rate:8.0f} notifications/s", flush=True)
    report(bare, relay, far, args)


def report(
    bare: list[float], relay: list[float], far: dict[str, list[float]], args: argparse.Namespace
) -> None:
    ratio = statistics.median(relay) / statistics.median(bare)
    text = "\n".join(
        [
            SECTION,
            "",
            f"Command: `make bench` (runs `python -m bench.delivery --notifications {args.notifications}"
            f" --rounds {args.rounds}`).",
            f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}; wrk, relay, the sink and the "
            "bare client on the same machine over loopback.",
            "",
            f"{args.notifications} notifications per run to one webhook destination (a uvicorn sink "
            f"that answers 200). The bare httpx client posts them {BARE_CONCURRENCY} at a time; relay "
            "gets that many webhooks, each a new group, from wrk over 32 connections, and the time "
            "runs from the first webhook to the sink counting the last notification: ingest, the "
            "commit before the 200, claim, render, send and the recorded attempt. Rounds alternate; "
            "medians. The sink's count is read every 20 ms through one open connection (about "
            "1 ms of CPU each time).",
            "",
            "| target | notifications/s | vs bare | runs |",
            "|---|---:|---:|---|",
            f"| bare httpx client | {statistics.median(bare):.0f} | 100% | "
            + ", ".join(f"{v:.0f}" for v in bare)
            + " |",
            f"| relay, SQLite (synchronous=full) | {statistics.median(relay):.0f} | {ratio:.0%} | "
            + ", ".join(f"{v:.0f}" for v in relay)
            + " |",
            "",
            "Target: relay at ≥ 50% of the bare client.",
            "",
            f"**A far destination.** The same, {args.far_notifications} notifications per run, to a sink "
            f"that answers each request after {args.far_ms} ms (a webhook across a network): here the "
            "round trip, not the CPU, sets the pace.",
            "",
            "| target | notifications/s | vs bare | runs |",
            "|---|---:|---:|---|",
            *(
                f"| {name} | {statistics.median(rates):.0f} | "
                f"{statistics.median(rates) / statistics.median(far['bare httpx client']):.0%} | "
                + ", ".join(f"{v:.0f}" for v in rates)
                + " |"
                for name, rates in far.items()
            ),
            "",
        ]
    )
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
