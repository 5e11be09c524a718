"""What one delivery request costs in the HTTP client: relay's transport against httpx's.

    python -m bench.transport [--requests 4000] [--rounds 5] [--no-write]

One process posts the five-alert webhook body (what relay's webhook channel sends) to the
delivery benchmark's sink (its own uvicorn process), 8 at a time, through
``relay.channels.http.call`` as every channel does, on uvloop as ``relay serve`` runs:

- **httpx's client and default transport** (the client's send, then httpcore over anyio
  and h11): what relay used before;
- **httpx's client, relay's transport** (``relay.channels.http11``);
- **relay's delivery client** (``delivery_client()``): ``call()`` hands a request without
  credentials straight to relay's transport, without the client's send (auth flow,
  redirects, cookie jar). What relay uses now.

CPU time of the posting process (``time.process_time``) per request, and requests per
second; the two alternate each round; medians. Results go to the "HTTP transport" section
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import uvloop

from bench.delivery import BARE_CONCURRENCY, in_parallel, sink_process
from bench.ingest import GROUP_TOKEN, five_alert_webhook
from bench.results import write_section
from relay.channels.http import Answer, call
from relay.channels.http11 import Http11Transport, delivery_client
from tests.helpers.client_send import PassThrough

SECTION = "## HTTP transport (`bench/transport.py`)"
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # relay's


def httpx_default() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10, limits=LIMITS, auth=PassThrough())


def httpx_client_relay_transport() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=10, limits=LIMITS, auth=PassThrough(), transport=Http11Transport(limits=LIMITS)
    )


def relay_client() -> httpx.AsyncClient:
    return delivery_client(timeout=10, user_agent="relay-bench", limits=LIMITS)


BASE = "httpx's client and default transport"
CLIENTS: dict[str, Callable[[], httpx.AsyncClient]] = {
    BASE: httpx_default,
    "httpx's client, relay's transport": httpx_client_relay_transport,
    "relay's delivery client (call() straight to relay's transport)": relay_client,
}


async def post_all(
    make: Callable[[], httpx.AsyncClient], url: str, body: bytes, total: int
) -> tuple[float, float]:
    """(CPU µs per request, requests per second)."""
    headers = {"Content-Type": "application/json"}
    async with make() as client:

        async def post() -> Answer:
            return await call(
                client,
                "POST",
                url,
                what="sink",
                request_timeout=10,
                secrets=[],
                content=body,
                headers=headers,
            )

        cpu = time.process_time()
        seconds = await in_parallel(post, total)
        return 1e6 * (time.process_time() - cpu) / total, total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()
    body = json.dumps(five_alert_webhook(), ensure_ascii=False).replace(GROUP_TOKEN, "transport").encode()
    cpu: dict[str, list[float]] = {name: [] for name in CLIENTS}
    rate: dict[str, list[float]] = {name: [] for name in CLIENTS}
    with sink_process() as sink:
        for round_no in range(args.rounds):
            for name, make in CLIENTS.items():
                us, per_second = uvloop.run(post_all(make, f"{sink}/hook", body, args.requests))
                cpu[name].append(us)
                rate[name].append(per_second)
                print(
                    f"round {round_no + 1} {name:<64} {us:6.0f} µs CPU/request {per_second:7.0f} req/s",
                    flush=True,
                )
    base = statistics.median(cpu[BASE])
    rows = [
        f"| {name} | {statistics.median(cpu[name]):.0f} | {statistics.median(cpu[name]) / base:.2f} | "
        f"{statistics.median(rate[name]):.0f} | " + ", ".join(f"{v:.0f}" for v in cpu[name]) + " |"
        for name in CLIENTS
    ]
    text = "\n".join(
        [
            SECTION,
            "",
            "Command: `make bench` (runs `python -m bench.transport "
            f"--requests {args.requests} --rounds {args.rounds}`).",
            f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}; the sink in its own process.",
            "",
            f"{args.requests} posts of the five-alert webhook body per run, {BARE_CONCURRENCY} at a time, "
            "through `relay.channels.http.call` (as every channel sends) on uvloop, to the delivery "
            "benchmark's sink. CPU of the posting process per request; medians of the rounds, "
            "which alternate.",
            "",
            "| client | CPU µs/request | vs httpx's | requests/s | runs (µs) |",
            "|---|---:|---:|---:|---|",
            *rows,
            "",
        ]
    )
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
