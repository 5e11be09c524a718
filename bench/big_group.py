"""One big group: a webhook of N alerts (Alertmanager with ``max_alerts: 0`` in a storm) to
a receiver with seven channels, and how long relay stops answering meanwhile.

    python -m bench.big_group [--alerts 10000] [--rounds 3] [--no-write]

Each round starts a fresh `relay serve` (SQLite) whose receiver has WeCom, DingTalk,
Feishu, Slack, Teams and Telegram integrations and email, each pointed at a local fake
(127.0.0.1) that answers as the vendor does when all is well. A probe asks
``/-/healthy`` every 20 ms from another thread for the whole round; the webhook is
posted once the probe runs. Reported, medians over the rounds:

- the longest ``/-/healthy`` answer (a loop-lag probe from outside: a request waits for
  the event loop exactly as long as the loop is held), and the baseline: the same probe
  against the same relay before the webhook (an idle loop);
- the time until every part is handed to the fakes (the vendors' rates included:
  Telegram takes one message a second, so its 10 parts need 9 s however fast relay is);
- the webhook's answer time.

Rendering is measured in-process as well, one notification of 1,000 and of 10,000 alerts
through each channel's splitter (``render_parts``; the email's text and HTML), to show
the work does not grow with the group once the parts are capped (``max_parts``: 10).
Results go to the "One big group" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.results import write_section
from tests.chaos.test_big_group import TOKEN, big_group
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.services import SmtpSink
from tests.helpers.sink import Answer, Sink

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## One big group (`bench/big_group.py`)"
OK_JSON = {"Content-Type": "application/json"}


class Probe:
    """GET /-/healthy every ``every`` seconds; the time each answer took."""

    def __init__(self, url: str, every: float = 0.02) -> None:
        self.url = url
        self.every = every
        self.answers: list[tuple[float, float]] = []  # (asked at, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                asked = time.monotonic()
                client.get(f"{self.url}/-/healthy")
                self.answers.append((asked, time.monotonic() - asked))
                self._stop.wait(self.every)

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def longest(self, since: float = 0.0, until: float = float("inf")) -> float:
        return max((took for at, took in self.answers if since <= at < until), default=0.0)


def config_text(tmp: Path, urls: dict[str, str], smtp_port: int) -> str:
    return textwrap.dedent(f"""
        global: {{external_url: "https://relay.example.com"}}
        storage: {{url: "sqlite:///{tmp}/relay.db"}}
        delivery: {{timeout: 10s, retry_for: 5m}}
        route: {{receiver: storm}}
        receivers:
          - name: storm
            wecom_configs: [{{webhook_url: "{urls["wecom"]}/cgi-bin/webhook/send?key=robot-key-0123456789"}}]
            dingtalk_configs: [{{webhook_url: "{urls["dingtalk"]}/robot/send?access_token=dt0123456789ab"}}]
            feishu_configs: [{{webhook_url: "{urls["feishu"]}/open-apis/bot/v2/hook/0123456789abcdef"}}]
            slack_configs: [{{api_url: "{urls["slack"]}/services/T0/B0/0123456789abcdef"}}]
            msteams_configs: [{{webhook_url: "{urls["teams"]}/workflows/0a1b2c3d/triggers/manual/paths/run"}}]
            telegram_configs: [{{bot_token: "{TOKEN}", chat_id: "-100123", api_url: "{urls["telegram"]}"}}]
            email_configs:
              - {{to: [ops@example.com], from: relay@example.com, require_tls: false,
                  smarthost: "127.0.0.1:{smtp_port}"}}
    """)


def one_round(alerts: int, relay_source: str | None = None, at_most: float = 300.0) -> dict[str, float]:
    """One fresh relay, one big webhook. ``relay_source``: a checkout whose relay runs
    instead of this one (the figure before a change); ``at_most``: seconds to wait for
    the parts (then "handed" is nan and the stall is measured over that time)."""
    fakes = {
        "wecom": Sink(Answer(body={"errcode": 0, "errmsg": "ok"}, headers=OK_JSON)),
        "dingtalk": Sink(Answer(body={"errcode": 0, "errmsg": "ok"}, headers=OK_JSON)),
        "feishu": Sink(Answer(body={"code": 0, "msg": "success", "data": {}}, headers=OK_JSON)),
        "slack": Sink(Answer(body=b"ok")),
        "teams": Sink(Answer(status=202, body=b"")),
        "telegram": Sink(Answer(body={"ok": True, "result": {"message_id": 1}}, headers=OK_JSON)),
    }
    smtp = SmtpSink().start()
    for fake in fakes.values():
        fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "relay.yml"
            urls = {name: fake.url for name, fake in fakes.items()}
            config.write_text(config_text(Path(tmp), urls, smtp.port))
            env = {"PYTHONPATH": relay_source} if relay_source else {}
            relay = RelayProcess(config, env=env).start()
            probe = Probe(relay.url).start()
            try:
                body = json.dumps(big_group(alerts), ensure_ascii=False).encode()
                time.sleep(2.0)  # the idle baseline
                posted = time.monotonic()
                answer = httpx.post(
                    f"{relay.url}/api/v1/alerts/webhook",
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=120,
                )
                answered = time.monotonic()
                assert answer.status_code == 200, answer.text

                # Done when every fake has its messages and none came for 3 s (Telegram's
                # parts come one a second). Asking relay's API instead would add its own
                # load to what the probe measures.
                seen: list[tuple[float, int]] = []

                def all_handed() -> bool:
                    count = sum(fake.count() for fake in fakes.values()) + len(smtp.received())
                    if not seen or seen[-1][1] != count:
                        seen.append((time.monotonic(), count))
                    every = all(fake.count() >= 2 for fake in fakes.values()) and smtp.received()
                    return bool(every) and time.monotonic() - seen[-1][0] > 3.0

                handed = wait_for(all_handed, timeout=at_most, interval=0.1)
                done = max((r.at for fake in fakes.values() for r in fake.received), default=float("nan"))
                if not handed:
                    done = float("nan")
                finished = time.monotonic()
                time.sleep(0.5)
            finally:
                probe.stop()
                relay.stop()
        wall_offset = time.time() - time.monotonic()
        return {
            "idle": probe.longest(until=posted),
            "busy": probe.longest(since=posted, until=finished),
            "answer": answered - posted,
            "handed": done - (posted + wall_offset),
            "parts": float(sum(fake.count() for fake in fakes.values())),
            "body_mb": len(body) / 1e6,
        }
    finally:
        for fake in fakes.values():
            fake.stop()
        smtp.stop()


def rendering(counts: list[int]) -> dict[tuple[str, int], float]:
    """Seconds to render and split one notification of each size, per channel."""
    from relay.channels import make_renderer
    from relay.channels.base import MemoryRefs, Message
    from relay.config import parse_config
    from relay.core.alerts import WebhookPayload
    from relay.pipeline.runtime import notifier_context
    from relay.templating.sample import notification_from_payload

    nowhere = {
        name: "http://127.0.0.1:9" for name in ("wecom", "dingtalk", "feishu", "slack", "teams", "telegram")
    }
    config = parse_config(config_text(Path(tempfile.gettempdir()), nowhere, 9))
    renderer = make_renderer(config)
    found: dict[tuple[str, int], float] = {}

    async def measure() -> None:
        async with httpx.AsyncClient() as http:
            ctx = notifier_context(config, http=http, renderer=renderer, refs=MemoryRefs())
            for count in counts:
                webhook = WebhookPayload.model_validate(big_group(count))
                notification = notification_from_payload(webhook, "storm", "new_alerts")
                for integration, entry in config.receivers[0].integrations():
                    notifier = entry.build(ctx)
                    message = Message(job_id="0" * 32, notification=notification, integration=integration)
                    started = time.perf_counter()
                    notifier.prepare(message)
                    found[(integration.split("/")[1], count)] = time.perf_counter() - started

    asyncio.run(measure())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        help="also run the relay of this checkout (a git worktree of an older commit) for --before-seconds",
    )
    parser.add_argument("--before-seconds", type=float, default=60.0)
    args = parser.parse_args()

    rounds = [one_round(args.alerts) for _ in range(args.rounds)]
    before = one_round(args.alerts, args.before, args.before_seconds) if args.before else None
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    renders = rendering([1_000, 10_000])
    kinds = sorted({kind for kind, _ in renders})
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        SECTION,
        "",
        f"One webhook of {args.alerts:,} alerts ({median['body_mb']:.1f} MB) to a receiver with WeCom,"
        " DingTalk, Feishu, Slack, Teams, Telegram and email, each to a local fake; `relay serve` on"
        f" SQLite, a probe asking `/-/healthy` every 20 ms. Medians of {args.rounds} rounds, run {day} on"
        f" {platform.machine()} with {_cores()} cores, `make bench` (`python -m bench.big_group`).",
        "",
        "| | figure |",
        "|---|---|",
        f"| longest `/-/healthy` answer, idle relay (baseline) | {median['idle'] * 1000:.0f} ms |",
        "| longest `/-/healthy` answer while the group is read, rendered and sent"
        f" | {median['busy'] * 1000:.0f} ms |",
        f"| the webhook answered after | {median['answer']:.2f} s |",
        f"| every part handed to the fakes after | {median['handed']:.1f} s"
        " (Telegram's 1 a second: 10 parts take 9 s) |",
        f"| messages in all (7 channels, `max_parts` 10) | {median['parts']:.0f} |",
        "",
    ]
    if before is not None:
        lines += [
            f"Before (`--before {args.before}`, one round, watched for {args.before_seconds:.0f} s):"
            f" longest `/-/healthy` answer {before['busy']:.1f} s, the webhook answered after"
            f" {before['answer']:.1f} s, {before['parts']:.0f} messages handed to the fakes by then.",
            "",
        ]
    lines += [
        "Rendering and splitting one notification (`prepare`, in-process), milliseconds:",
        "",
        "| channel | 1,000 alerts | 10,000 alerts | ratio |",
        "|---|---|---|---|",
    ]
    for kind in kinds:
        small, big = renders[(kind, 1_000)], renders[(kind, 10_000)]
        lines.append(f"| {kind} | {small * 1000:.0f} | {big * 1000:.0f} | {big / small:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


def _cores() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
