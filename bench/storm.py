"""Storm: 10,000 alerts in 500 groups for one 20-per-minute WeCom robot, with and without
digests, in the same run.

    python -m bench.storm [--groups 500] [--per-group 20] [--arrival 10] [--prefix 180]
                          [--deadline 600] [--no-write]

Two real `relay serve` processes (SQLite) start side by side, each with one WeCom robot
integration pointing to its own local robot fake (127.0.0.1) that accepts 20 messages per
rolling minute and answers errcode 45009 past it, as WeCom does. One has the default
`storm:` policy, the other `storm: {enabled: false}`. The same webhooks (one group of
`--per-group` alerts each, Alertmanager pass-through) are posted to both, spread over
`--arrival` seconds. The fakes record every accepted message; an alert is represented
when its group's digest entry counts all its alerts, or when the alert itself (its
instance label) appears in a message.

Everything runs in real time. With digests the run lasts until every alert is
represented. Without digests it would last ~25 minutes (the backlog drains at 20
messages a minute), so it is measured for `--prefix` seconds and the total is
extrapolated from the messages each group took in that prefix and the robot's rate: the
report says which figure is measured and which is extrapolated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.process import RelayProcess

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
RATE, WINDOW = 20, 60.0


class Robot:
    """A local WeCom robot: ``RATE`` messages per rolling ``WINDOW``, errcode 45009 past it."""

    def __init__(self) -> None:
        self.accepted: deque[float] = deque()
        self.messages: list[tuple[float, str]] = []
        self.throttled = 0
        self.lock = threading.Lock()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = robot.receive(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=b"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, body: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        with self.lock:
            while self.accepted and self.accepted[0] <= now - WINDOW:
                self.accepted.popleft()
            if len(self.accepted) >= RATE:
                self.throttled += 1
                return {"errcode": 45009, "errmsg": "api freq out of limit"}
            self.accepted.append(now)
            self.messages.append((now, str(body[body["msgtype"]]["content"])))
        return {"errcode": 0, "errmsg": "ok"}

    def close(self) -> None:
        self.server.shutdown()


_ENTRY = re.compile(r"group=g(\d+)\b[^\n]*· (\d+) firing")
_ALERT = re.compile(r"host-(\d+)-(\d+)\b")


@dataclass
class Coverage:
    """When each alert was first represented at a robot."""

    groups: int
    per_group: int
    alerts: dict[tuple[int, int], float] = field(default_factory=dict)

    def scan(self, messages: list[tuple[float, str]]) -> None:
        for at, text in messages:
            for group, count in _ENTRY.findall(text):
                if int(count) >= self.per_group:  # a digest entry counting every alert
                    for n in range(self.per_group):
                        self.alerts.setdefault((int(group), n), at)
            for group, n in _ALERT.findall(text):
                self.alerts.setdefault((int(group), int(n)), at)

    @property
    def complete(self) -> bool:
        return len(self.alerts) >= self.groups * self.per_group


def config_text(db: Path, robot: str, storm: bool) -> str:
    policy = "" if storm else "\n        storm: {enabled: false}"
    return f"""
storage: {{url: "sqlite:///{db}"}}
route:
  receiver: oncall
receivers:
  - name: oncall
    wecom_configs:
      - webhook_url: "{robot}"{policy}
"""


def group_webhook(index: int, per_group: int) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "LinkDown", "group": f"g{index}", "instance": f"host-{index}-{n}"},
            "annotations": {"summary": f"link down on host-{index}-{n}"},
            "startsAt": "2026-11-22T06:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{index:06x}{n:04x}",
        }
        for n in range(per_group)
    ]
    return {
        "version": "4",
        "groupKey": f'{{}}:{{group="g{index}"}}',
        "truncatedAlerts": 0,
        "receiver": "oncall",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": "LinkDown", "group": f"g{index}"},
        "commonLabels": {"alertname": "LinkDown"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }


@dataclass
class Result:
    storm: bool
    messages: int
    throttled: int
    represented: int
    total: int
    measured_s: float | None  # time until every alert was represented, when it was
    extrapolated_s: float | None  # otherwise: from the prefix
    post_errors: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--per-group", type=int, default=20)
    parser.add_argument("--arrival", type=float, default=10.0)
    parser.add_argument("--prefix", type=float, default=180.0)
    parser.add_argument("--deadline", type=float, default=600.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    total = args.groups * args.per_group
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="relay-storm-") as tmp:
        robots = {True: Robot(), False: Robot()}
        relays: dict[bool, RelayProcess] = {}
        for storm, robot in robots.items():
            path = Path(tmp) / f"relay-{'storm' if storm else 'plain'}.yml"
            path.write_text(config_text(Path(tmp) / f"{path.stem}.db", robot.url, storm))
            relays[storm] = RelayProcess(path, env=env).start()
        errors = 0
        try:
            start = time.monotonic()
            with httpx.Client(timeout=30.0) as client:
                for index in range(args.groups):
                    due = start + args.arrival * index / args.groups
                    time.sleep(max(0.0, due - time.monotonic()))
                    payload = group_webhook(index, args.per_group)
                    for relay in relays.values():
                        answer = client.post(f"{relay.url}/api/v1/alerts/webhook", json=payload)
                        errors += answer.status_code != 200
            arrived = time.monotonic() - start
            results: list[Result] = []
            coverage = {s: Coverage(args.groups, args.per_group) for s in robots}
            done: dict[bool, float] = {}
            while time.monotonic() - start < args.deadline:
                for storm, robot in robots.items():
                    if storm in done:
                        continue
                    with robot.lock:
                        messages = list(robot.messages)
                    coverage[storm] = Coverage(args.groups, args.per_group)
                    coverage[storm].scan(messages)
                    if coverage[storm].complete:
                        done[storm] = max(coverage[storm].alerts.values()) - start
                if True in done and (False in done or time.monotonic() - start >= args.prefix):
                    break
                time.sleep(1.0)
            elapsed = time.monotonic() - start
            for storm, robot in robots.items():
                represented = len(coverage[storm].alerts)
                extrapolated = None
                if storm not in done and robot.messages:
                    # Each group took this many messages so far; the backlog drains at RATE
                    # per WINDOW, so the whole takes that many windows.
                    groups_seen = {g for g, _ in coverage[storm].alerts}
                    per_group = len(robot.messages) / max(1, len(groups_seen))
                    extrapolated = args.groups * per_group / RATE * WINDOW
                results.append(
                    Result(
                        storm,
                        len(robot.messages),
                        robot.throttled,
                        represented,
                        total,
                        done.get(storm),
                        extrapolated,
                        errors,
                    )
                )
        finally:
            for relay in relays.values():
                relay.stop()
            for robot in robots.values():
                robot.close()
    report(results, args, arrived, elapsed)


def report(results: list[Result], args: argparse.Namespace, arrived: float, elapsed: float) -> None:
    def figure(r: Result) -> str:
        if r.measured_s is not None:
            return f"{r.measured_s:.0f} s (measured)"
        if r.extrapolated_s is not None:
            return (
                f"~{r.extrapolated_s / 60:.0f} min (extrapolated from the first"
                f" {elapsed:.0f} s: {r.represented} of {r.total} alerts by then)"
            )
        return f"not within {elapsed:.0f} s"

    lines = [
        "| | every alert represented after | messages | throttle errors (45009) |",
        "|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: not r.storm):
        name = "with digests (default `storm:`)" if r.storm else "without (`storm: {enabled: false}`)"
        lines.append(f"| {name} | {figure(r)} | {r.messages} | {r.throttled} |")
    table = "\n".join(lines)
    print(table)
    print(f"webhooks posted in {arrived:.1f} s, {results[0].post_errors} errors")
    if args.no_write:
        return
    text = DOCS.read_text(encoding="utf-8")
    section = (
        "## Storm (`bench/storm.py`)\n\n"
        f"{args.groups * args.per_group:,} alerts in {args.groups} groups posted within"
        f" {args.arrival:g} s (measured: {arrived:.1f} s) to two `relay serve` (SQLite), each"
        " with one WeCom robot integration to a local fake that accepts 20 messages per"
        " rolling minute and answers errcode 45009 past it; real time, same run."
        f" Run {datetime.now(UTC):%Y-%m-%d}, `make bench` (`python -m bench.storm`).\n\n"
        f"{table}\n\n"
        "Without digests the backlog drains at 20 messages a minute, so that run is measured"
        f" for {args.prefix:g} s and its total extrapolated from the messages each group"
        " took in that time (a group of 20 alerts is 2 WeCom messages of at most 4096 bytes,"
        " hence about 50 minutes rather than 25 at one message per group); with digests the"
        " time is measured to the last alert.\n"
    )
    pattern = re.compile(r"## Storm \(`bench/storm.py`\)\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(section.rstrip("\n") + "\n", text)
    else:
        text = text.replace("## History", section + "\n## History", 1)
    DOCS.write_text(text, encoding="utf-8")
    print(f"written to {DOCS}")


if __name__ == "__main__":
    main()
