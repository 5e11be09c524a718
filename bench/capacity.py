"""What one webhook and one delivered notification cost a relay replica and Redis, and
what that means for N replicas on one Redis.

    python -m bench.capacity [--webhooks 2000] [--concurrency 16] [--no-write]

One `relay serve` on a real redis-server (appendonly, `appendfsync everysec`), webhooks
posted over loopback by a thread pool, webhook notifications to a sink in this process.
Three phases, each measured from the outside:

- **re-sent**: the same 5-alert webhook again and again (an HA pair, Alertmanager's
  re-sends): no change, nothing to deliver;
- **new group, 1 notification**: each webhook a new group, routed to a receiver with one
  webhook integration;
- **new group, 2 notifications**: the same, a receiver with two integrations.

For each: the replica's CPU seconds (``/proc/<pid>/stat``), Redis' own CPU
(``INFO cpu``), its commands (``INFO commandstats``) and bytes in and out (``INFO
stats``), per webhook. A notification's cost is the difference between the last two
phases; a new group's ingest is the 1-notification phase minus one notification.

Redis runs one command at a time on one core, so one Redis takes about
``1 / (Redis CPU per webhook)`` webhooks per second, and N replicas, each on its own
core, about ``N / (replica CPU per webhook)``: whichever is smaller is the limit. The
section written to docs/benchmarks.md and the model in docs/ha.md come from this run.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.ingest import ROOT, Server, cpu_seconds, five_alert_webhook, free_port
from bench.results import write_section

SECTION = "## Capacity on Redis (`bench/capacity.py`)"


class Sink:
    """Counts the notifications it receives."""

    def __init__(self) -> None:
        self.count = 0
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with lock:
                    sink.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def redis_counters(client: redis.Redis) -> dict[str, float]:
    cpu = client.info("cpu")
    stats = client.info("stats")
    found = {
        "cpu": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        "bytes_in": float(stats["total_net_input_bytes"]),
        "bytes_out": float(stats["total_net_output_bytes"]),
    }
    for name, values in client.info("commandstats").items():
        found[name.removeprefix("cmdstat_")] = float(values["calls"])
    return found


def config_text(storage: str, sink: str) -> str:
    return textwrap.dedent(f"""
        storage:
          url: "{storage}"
        route:
          receiver: one
          routes:
            - matchers: ['fanout="2"']
              receiver: two
        receivers:
          - name: one
            webhook_configs: [{{url: "{sink}"}}]
          - name: two
            webhook_configs: [{{url: "{sink}"}}, {{url: "{sink}"}}]
    """)


def webhook(group: str, fanout: int) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(five_alert_webhook())
    body["groupKey"] = f'{{}}:{{alertname="{group}"}}'
    for alert in body["alerts"]:
        alert["labels"]["fanout"] = str(fanout)
    body["commonLabels"]["fanout"] = str(fanout)
    return body


def phase(
    name: str,
    bodies: list[dict[str, Any]],
    relay_url: str,
    pid: int,
    client: redis.Redis,
    sink: Sink,
    expect: int,
    concurrency: int,
) -> dict[str, Any]:
    before_cpu, before_redis, before_sink = cpu_seconds(pid), redis_counters(client), sink.count
    started = time.monotonic()
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(concurrency) as pool:
        codes = list(
            pool.map(lambda b: http.post(f"{relay_url}/api/v1/alerts/webhook", json=b).status_code, bodies)
        )
    bad = [c for c in codes if c != 200]
    if bad:
        raise RuntimeError(f"{name}: {len(bad)} answers were not 200: {bad[:5]}")
    deadline = time.monotonic() + 120
    while sink.count - before_sink < expect and time.monotonic() < deadline:
        time.sleep(0.05)
    if sink.count - before_sink < expect:
        raise RuntimeError(f"{name}: {sink.count - before_sink} of {expect} notifications arrived")
    time.sleep(1.0)  # the last records land
    elapsed = time.monotonic() - started
    after_cpu, after_redis = cpu_seconds(pid), redis_counters(client)
    n = len(bodies)
    delta = {k: after_redis.get(k, 0.0) - before_redis.get(k, 0.0) for k in after_redis}
    commands = {k: v / n for k, v in delta.items() if k not in ("cpu", "bytes_in", "bytes_out") and v > 0}
    return {
        "name": name,
        "webhooks": n,
        "notifications": sink.count - before_sink,
        "seconds": elapsed,
        "relay_cpu_ms": (after_cpu - before_cpu) / n * 1000,
        "redis_cpu_ms": delta["cpu"] / n * 1000,
        "redis_commands": sum(commands.values()),
        "redis_bytes": (delta["bytes_in"] + delta["bytes_out"]) / n,
        "top_commands": dict(sorted(commands.items(), key=lambda kv: -kv[1])[:6]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()
    from tests.helpers.redis_server import RedisServer

    with tempfile.TemporaryDirectory(prefix="relay-capacity-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        redis_server = RedisServer(appendonly=True, args=["--appendfsync", "everysec"])
        redis_server.start()
        stack.callback(redis_server.stop)
        sink = Sink()
        config = tmp / "relay.yml"
        config.write_text(config_text(redis_server.url + "?prefix=cap:", sink.url))
        port = free_port()
        relay = Server(
            "relay",
            [sys.executable, "-m", "relay", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
             "--log-level", "warning"],
            port,
            ROOT,
        )  # fmt: skip
        stack.callback(relay.stop)
        url = f"http://127.0.0.1:{port}"
        client = redis.Redis(port=redis_server.port, decode_responses=True)
        time.sleep(2)  # the start-up webhook is delivered
        n = args.webhooks
        same = [webhook("resent", 1)] * n
        phase(
            "warm-up",
            [webhook(f"warm-{i}", 1) for i in range(200)],
            url,
            relay.proc.pid,
            client,
            sink,
            200,
            args.concurrency,
        )
        phases = [
            phase("re-sent", same, url, relay.proc.pid, client, sink, 1, args.concurrency),
            phase("new group, 1 notification", [webhook(f"one-{i}", 1) for i in range(n)], url,
                  relay.proc.pid, client, sink, n, args.concurrency),
            phase("new group, 2 notifications", [webhook(f"two-{i}", 2) for i in range(n)], url,
                  relay.proc.pid, client, sink, 2 * n, args.concurrency),
        ]  # fmt: skip
    for p in phases:
        print(json.dumps(p))
    text = report(phases, args)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


def report(phases: list[dict[str, Any]], args: argparse.Namespace) -> str:
    resent, one, two = phases
    per_notification = {
        k: two[k] - one[k] for k in ("relay_cpu_ms", "redis_cpu_ms", "redis_commands", "redis_bytes")
    }
    ingest = {k: one[k] - per_notification[k] for k in per_notification}
    rows = [
        ("re-sent webhook (no change)", resent),
        ("new group: ingest", ingest),
        ("delivered notification", per_notification),
        ("new group with one notification", one),
    ]
    lines = [
        SECTION,
        "",
        f"Command: `python -m bench.capacity --webhooks {args.webhooks} --concurrency {args.concurrency}`.",
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; one `relay serve` on one "
        "redis-server (appendonly, `appendfsync everysec`), the load and a webhook sink in the bench "
        "process, all on loopback.",
        "",
        f"{args.webhooks} webhooks per phase (5 alerts each) over {args.concurrency} connections; a new "
        "group's notification is a webhook to the sink. A notification's cost is the 2-notification "
        "phase minus the 1-notification phase; ingest is the 1-notification phase minus a "
        "notification. Redis commands are `INFO commandstats` calls, those the Lua scripts run "
        "included (`evalsha` is one round trip running several).",
        "",
        "| per | relay CPU ms | Redis CPU ms | Redis commands | Redis bytes in+out |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, figures in rows:
        lines.append(
            f"| {label} | {figures['relay_cpu_ms']:.2f} | {figures['redis_cpu_ms']:.3f} | "
            f"{figures['redis_commands']:.1f} | {figures['redis_bytes']:.0f} |"
        )
    lines += ["", "Redis commands per webhook, by command:", ""]
    for p in phases:
        top = ", ".join(f"`{k}` {v:.1f}" for k, v in p["top_commands"].items())
        lines.append(f"- {p['name']}: {top}")
    relay_rate = 1000 / one["relay_cpu_ms"]
    redis_rate = 1000 / one["redis_cpu_ms"]
    replicas_to_fill = redis_rate / relay_rate
    resent_relay, resent_redis = 1000 / resent["relay_cpu_ms"], 1000 / resent["redis_cpu_ms"]
    lines += [
        "",
        "**The model.** Redis runs one command at a time on one core; each replica is one Python process "
        "(one core). From the figures above:",
        "",
        f"- a new group with one notification: a replica core does about **{relay_rate:.0f}/s**, "
        f"Redis about **{redis_rate:.0f}/s**: Redis is the limit from about "
        f"**{replicas_to_fill:.0f} replicas** on;",
        f"- re-sent webhooks: a replica core about **{resent_relay:.0f}/s**, Redis about "
        f"**{resent_redis:.0f}/s**;",
        f"- each more notification per group costs a replica {per_notification['relay_cpu_ms']:.2f} ms "
        f"and Redis {per_notification['redis_cpu_ms']:.3f} ms.",
        "",
        "These are CPU costs at a moderate load; at saturation, latency and the fsync of the "
        "append-only file come first. docs/ha.md turns them into a sizing rule.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
