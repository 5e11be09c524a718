"""Real `relay serve` processes under load: kill -9 loses nothing it answered 200 for, and
config reloads (SIGHUP) in the middle of the traffic drop nothing.

Load goes to 127.0.0.1 only, at a bounded rate for a bounded time; each test stops by
itself in well under a minute.
"""

from __future__ import annotations

import signal
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from relay.config.sections import DeliveryConfig
from tests.helpers.process import RelayProcess, free_port, wait_for
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook

RATE = 100  # webhooks per second
LOAD_SECONDS = 4.0


def write_config(tmp_path: Path, sink_port: int, level: str = "info") -> Path:
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(f"""
        storage:
          url: sqlite:///{tmp_path}/relay.db
        delivery:
          timeout: 5s
          retry_for: 1h
          backoff_initial: 0.2s
          backoff_max: 1s
          lease: 10s
        route:
          receiver: hook
        receivers:
          - name: hook
            webhook_configs:
              - url: http://127.0.0.1:{sink_port}/hook
            log_configs:
              - level: {level}
    """)
    )
    return path


class Load:
    """Posts a new group per webhook at RATE/s from a thread; remembers what got a 200
    and what got no answer at all (relay was gone: it may or may not have kept it)."""

    def __init__(self, port: int, seconds: float) -> None:
        self.url = f"http://127.0.0.1:{port}/api/v1/alerts/webhook"
        self.seconds = seconds
        self.accepted: list[str] = []
        self.unanswered: list[str] = []
        self.refused: Counter[int] = Counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(self.seconds + 30)

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        with httpx.Client(timeout=5) as client:
            while time.monotonic() - start < self.seconds:
                instance = f"load-{n}"
                body = webhook(alert(instance=instance), group_key=f'{{}}:{{instance="{instance}"}}')
                try:
                    answer = client.post(self.url, json=body)
                except httpx.HTTPError:
                    self.unanswered.append(instance)
                else:
                    if answer.status_code == 200:
                        self.accepted.append(instance)
                    else:
                        self.refused[answer.status_code] += 1
                n += 1
                time.sleep(max(0.0, start + n / RATE - time.monotonic()))


def delivered(sink: Sink) -> Counter[str]:
    """Deliveries per alert instance (one group, one notification each)."""
    with sink._lock:
        return Counter(r.json()["alerts"][0]["labels"]["instance"] for r in sink.received)


def test_kill_9_under_load_loses_nothing_accepted(tmp_path: Path) -> None:
    with Sink() as sink:
        config = write_config(tmp_path, sink.port)
        port = free_port()
        relay = RelayProcess(config, port=port).start()
        kills = 2
        try:
            with Load(port, LOAD_SECONDS) as load:
                for _ in range(kills):
                    time.sleep(LOAD_SECONDS / (kills + 1))
                    relay.kill9()
                    relay = RelayProcess(config, port=port).start()
            accepted = set(load.accepted)
            # Enough traffic to judge by (each restart leaves a second or two unanswered, and a
            # loaded machine answers slower): a quarter of what was offered.
            assert len(accepted) > RATE * LOAD_SECONDS / 4, (len(accepted), load.refused)
            done = wait_for(lambda: accepted <= set(delivered(sink)), timeout=40)
            got = delivered(sink)
            assert done, (len(accepted - set(got)), relay.log())
            # Nothing relay never answered for appears out of nowhere...
            assert set(got) <= accepted | set(load.unanswered)
            # ...and a repeat is only an attempt a kill cut short (a webhook is sent at most
            # parallel_sends of them at once), recognisable by its Idempotency-Key.
            repeats = sum(count - 1 for count in got.values())
            assert repeats <= kills * DeliveryConfig().parallel_sends, got.most_common(5)
            assert max(got.values()) <= 1 + kills, got.most_common(5)
            print(
                f"kill -9 x{kills}: {len(accepted)} accepted, {len(got)} delivered,"
                f" {repeats} repeated, {len(load.unanswered)} unanswered"
            )
        finally:
            relay.stop()


def test_reloads_under_load_drop_nothing(tmp_path: Path) -> None:
    with Sink() as sink:
        config = write_config(tmp_path, sink.port)
        relay = RelayProcess(config).start()
        try:
            reloads = 0
            with Load(relay.port, LOAD_SECONDS) as load:
                deadline = time.monotonic() + LOAD_SECONDS
                while time.monotonic() < deadline:
                    time.sleep(0.4)
                    # Each reload builds new notifiers while jobs are being sent.
                    level = "warning" if reloads % 2 == 0 else "info"
                    config.write_text(
                        config.read_text().replace(
                            "level: info" if level == "warning" else "level: warning", f"level: {level}"
                        )
                    )
                    relay.signal(signal.SIGHUP)
                    reloads += 1
            assert not load.unanswered and not load.refused, (load.unanswered[:5], load.refused)
            accepted = set(load.accepted)
            assert wait_for(lambda: accepted <= set(delivered(sink)), timeout=30), relay.log()
            got = delivered(sink)
            assert set(got) == accepted
            assert max(got.values()) == 1, got.most_common(3)  # no kill: no repeat at all
            status = httpx.get(f"{relay.url}/api/v1/status", timeout=5).json()
            assert status["config"]["last_reload_error"] == ""
            assert reloads >= 5
        finally:
            assert relay.stop(), relay.log()
