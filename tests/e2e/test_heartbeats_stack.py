"""Heartbeats with the real stack on loopback: Prometheus fires an always-on Watchdog,
Alertmanager re-sends it to relay every two seconds, relay expects it.

* The Watchdog flows: no page, and the Watchdog itself is not sent on.
* relay is stopped for longer than the grace and started again while the Watchdog
  flows: no page (it does not page for its own absence).
* Alertmanager is killed (SIGKILL): exactly one HeartbeatMissing page after the grace.
* Alertmanager is started again: exactly one resolved message.
* Two relay replicas on a real redis-server, both receiving the Watchdog: one page.
"""

from __future__ import annotations

import contextlib
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_binary
from tests.helpers.alertmanager import start_alertmanager
from tests.helpers.process import RelayProcess, free_port, wait_for
from tests.helpers.redis_server import RedisServer
from tests.helpers.services import ServiceProcess
from tests.helpers.sink import Sink

pytestmark = pytest.mark.timeout(150)

# Alertmanager (repeat_interval 2s, group_interval 1s) re-sends on the first tick after
# the repeat: beats come 2 to 3 s apart, so the heartbeat expects one every 3 s.
INTERVAL, GRACE = 3.0, 8.0
# Anything that could make a second page shows up within this: relay checks every
# second, Alertmanager re-sends every two, retried deliveries back off at most 1 s.
QUIET = 5.0


def start_watchdog_alertmanager(tmp_path: Path, relay_urls: list[str], port: int) -> ServiceProcess:
    """One Alertmanager that re-sends the Watchdog to every relay every ~2 s."""
    hooks = "\n".join(
        f"      - url: {url}/api/v1/alerts/webhook\n        send_resolved: true" for url in relay_urls
    )
    config = textwrap.dedent("""
    route:
      receiver: relay
      group_by: [alertname]
      group_wait: 0s
      group_interval: 1s
      repeat_interval: 2s
    receivers:
      - name: relay
        webhook_configs:
    """)
    return start_alertmanager(tmp_path, config + hooks + "\n", port)


def start_prometheus(tmp_path: Path, alertmanager_port: int) -> ServiceProcess:
    binary = require_binary("prometheus")
    rules = tmp_path / "rules.yml"
    rules.write_text(
        textwrap.dedent("""
        groups:
          - name: meta
            rules:
              - alert: Watchdog
                expr: vector(1)
                labels: {severity: none}
                annotations: {summary: "The alerting pipeline works; relay expects this alert."}
        """)
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        textwrap.dedent(f"""
        global:
          evaluation_interval: 1s
        rule_files: [{rules}]
        alerting:
          alertmanagers:
            - static_configs:
                - targets: ['127.0.0.1:{alertmanager_port}']
        """)
    )
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",  # Alertmanager back up: the Watchdog again within 1 s
    ]
    prometheus = ServiceProcess(
        "prometheus", argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "prometheus.log"
    )
    return prometheus.start()


def write_relay_config(tmp_path: Path, storage_url: str, sink: Sink) -> Path:
    config = tmp_path / "relay.yml"
    config.write_text(
        textwrap.dedent(f"""
        storage:
          url: {storage_url}
        delivery:
          timeout: 5s
          retry_for: 1m
          backoff_initial: 0.2s
          backoff_max: 1s
        route:
          receiver: team
        receivers:
          - name: team
            webhook_configs: [{{url: {sink.url}/team}}]
          - name: oncall
            webhook_configs: [{{url: {sink.url}/oncall}}]
        heartbeats:
          - name: prometheus-watchdog
            matchers: ['alertname="Watchdog"']
            interval: {INTERVAL:g}s
            grace: {GRACE:g}s
            receiver: oncall
        """)
    )
    return config


def pages(sink: Sink) -> list[tuple[str, str]]:
    """(path, status) of every message the sink got, in order."""
    out = []
    for request in list(sink.received):
        payload = request.json()
        names = {a["labels"].get("alertname") for a in payload["alerts"]}
        out.append((request.path, payload["status"] + ":" + ",".join(sorted(names))))
    return out


def state_of(relay: RelayProcess) -> dict[str, Any]:
    answer = httpx.get(f"{relay.url}/api/v1/heartbeats", timeout=5)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["heartbeats"][0])


def logs(*procs: Any) -> str:
    return "\n".join(f"--- {p.log_path.name}\n{p.log()}" for p in procs if p is not None)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def test_watchdog_flows_relay_restarts_alertmanager_dies_and_returns(tmp_path: Path, sink: Sink) -> None:
    with contextlib.ExitStack() as stack:
        relay = RelayProcess(
            write_relay_config(tmp_path, f"sqlite:///{tmp_path}/relay.db", sink),
            log_path=tmp_path / "relay.log",
        )
        stack.callback(relay.stop)
        relay.start()
        am_port = free_port()
        am = start_watchdog_alertmanager(tmp_path, [relay.url], am_port)
        stack.callback(am.stop)
        prometheus = start_prometheus(tmp_path, am_port)
        stack.callback(prometheus.stop)
        everything = (relay, am, prometheus)

        # The Watchdog flows: the heartbeat is healthy, nobody is paged, nothing is sent on.
        assert wait_for(lambda: state_of(relay)["state"] == "healthy", 30), logs(*everything)
        time.sleep(GRACE + 2)
        assert state_of(relay)["state"] == "healthy", logs(*everything)
        assert pages(sink) == []

        # relay is down for longer than the grace, then back while the Watchdog flows.
        assert relay.stop()
        time.sleep(GRACE + 2)
        relay.start()
        time.sleep(GRACE + 2)
        assert state_of(relay)["state"] == "healthy", logs(*everything)
        assert pages(sink) == [], logs(*everything)

        # Alertmanager dies: one page, after the grace.
        assert am.proc is not None
        killed_at = time.monotonic()
        am.proc.kill()
        am.proc.wait(10)
        assert wait_for(lambda: len(pages(sink)) >= 1, GRACE + 15), logs(*everything)
        took = time.monotonic() - killed_at
        # The last beat came up to INTERVAL before the kill; the page a grace after it.
        assert GRACE - INTERVAL <= took <= GRACE + 5, took
        time.sleep(QUIET)
        assert pages(sink) == [("/oncall", "firing:HeartbeatMissing")], logs(*everything)
        assert state_of(relay)["state"] == "missing"

        # Alertmanager is back: the Watchdog flows again and the page is resolved, once.
        am.start()
        assert wait_for(lambda: len(pages(sink)) >= 2, 30), logs(*everything)
        time.sleep(QUIET)
        assert pages(sink) == [
            ("/oncall", "firing:HeartbeatMissing"),
            ("/oncall", "resolved:HeartbeatMissing"),
        ], logs(*everything)
        assert state_of(relay)["state"] == "healthy"
        metrics = httpx.get(f"{relay.url}/metrics", timeout=5).text
        assert 'relay_heartbeat_last_seen_timestamp_seconds{name="prometheus-watchdog"}' in metrics


def test_two_replicas_on_redis_page_once(tmp_path: Path, sink: Sink) -> None:
    redis = RedisServer(binary=require_binary("redis-server"))
    with contextlib.ExitStack() as stack:
        redis.start()
        stack.callback(redis.stop)
        config = write_relay_config(tmp_path, redis.url, sink)
        replicas = [RelayProcess(config, log_path=tmp_path / f"relay-{i}.log") for i in range(2)]
        for replica in replicas:
            stack.callback(replica.stop)
            replica.start()
        am_port = free_port()
        am = start_watchdog_alertmanager(tmp_path, [r.url for r in replicas], am_port)
        stack.callback(am.stop)
        prometheus = start_prometheus(tmp_path, am_port)
        stack.callback(prometheus.stop)
        everything = (*replicas, am, prometheus)

        assert wait_for(lambda: all(state_of(r)["state"] == "healthy" for r in replicas), 30), logs(
            *everything
        )
        assert am.proc is not None
        am.proc.kill()
        am.proc.wait(10)
        assert wait_for(lambda: len(pages(sink)) >= 1, GRACE + 15), logs(*everything)
        time.sleep(QUIET)
        assert pages(sink) == [("/oncall", "firing:HeartbeatMissing")], logs(*everything)
        # Both replicas read the same state from the store.
        assert [state_of(r)["state"] for r in replicas] == ["missing", "missing"]
        am.start()
        assert wait_for(lambda: len(pages(sink)) >= 2, 30), logs(*everything)
        time.sleep(QUIET)
        assert [p[1] for p in pages(sink)] == ["firing:HeartbeatMissing", "resolved:HeartbeatMissing"]
