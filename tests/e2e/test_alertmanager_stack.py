"""The real stack on loopback: Prometheus -> Alertmanager (one, or an HA pair) -> relay
-> SMTP, Slack, WeCom and a webhook.

Prometheus scrapes a target nobody listens on, so ``up == 0`` fires; later the target
starts and the alert resolves. Every destination must get exactly one firing and then
exactly one resolved message, however often Prometheus re-sends the alert and however
many Alertmanagers pass it on.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.conftest import require_binary
from tests.helpers.process import RelayProcess, free_port
from tests.helpers.services import MetricsTarget, ServiceProcess, SmtpSink
from tests.helpers.sink import Answer, Sink

# Each case takes about 15-25 s; the mark bounds a hung stack well below the suite's 300 s.
pytestmark = pytest.mark.timeout(90)

ALERT = "E2ETargetDown"
TOKEN = "e2e-bearer-token-5f0c2a"
# Long enough for anything that could cause a second message to show up: Prometheus
# re-sends every second, Alertmanager flushes every group_interval (1 s), and retried
# deliveries back off at most 1 s.
QUIET = 4.0
FIRST_MESSAGE_WITHIN = 45.0


class Stoppable(Protocol):
    def stop(self) -> Any: ...


@dataclass
class Destinations:
    smtp: SmtpSink
    slack: Sink
    wecom: Sink
    hook: Sink

    def messages(self) -> dict[str, list[tuple[str, str]]]:
        """For each destination, (status, text) of every message it got, in order."""
        out: dict[str, list[tuple[str, str]]] = {"email": [], "slack": [], "wecom": [], "webhook": []}
        for mail in self.smtp.received():
            subject = str(mail["Subject"])
            body = mail.get_body(preferencelist=("plain",))
            text = subject + "\n" + (body.get_content() if body is not None else "")
            out["email"].append((_status_of(subject), text))
        for request in list(self.slack.received):
            text = request.json()["text"]
            out["slack"].append((_status_of(text), json.dumps(request.json(), ensure_ascii=False)))
        for request in list(self.wecom.received):
            content = request.json()["markdown"]["content"]
            out["wecom"].append((_status_of(content), content))
        for request in list(self.hook.received):
            payload = request.json()
            out["webhook"].append((payload["status"], json.dumps(payload)))
        return out

    def counts(self) -> dict[str, int]:
        return {name: len(found) for name, found in self.messages().items()}


def _status_of(text: str) -> str:
    if "[FIRING" in text:
        return "firing"
    if "[RESOLVED]" in text:
        return "resolved"
    return f"unknown: {text[:80]!r}"


@dataclass
class Stack:
    tmp_path: Path
    destinations: Destinations
    started: list[Stoppable] = field(default_factory=list)
    relay: RelayProcess | None = None
    alertmanagers: list[ServiceProcess] = field(default_factory=list)
    prometheus: ServiceProcess | None = None
    target_port: int = 0

    def logs(self) -> str:
        parts = []
        for proc in [self.relay, *self.alertmanagers, self.prometheus]:
            if proc is not None:
                parts.append(f"--- {proc.log_path.name}\n{proc.log()}")
        return "\n".join(parts)

    def start_target(self) -> None:
        self.started.append(MetricsTarget(self.target_port).start())


@pytest.fixture
def destinations() -> Iterator[Destinations]:
    with contextlib.ExitStack() as running:
        smtp = SmtpSink().start()
        running.callback(smtp.stop)
        # Slack and WeCom fakes answer as the vendors answer a good post.
        slack = running.enter_context(Sink(Answer(200, "ok", {"Content-Type": "text/html"})))
        wecom = running.enter_context(
            Sink(Answer(200, {"errcode": 0, "errmsg": "ok"}, {"Content-Type": "application/json"}))
        )
        hook = running.enter_context(Sink())
        yield Destinations(smtp, slack, wecom, hook)


@pytest.fixture
def stack(tmp_path: Path, destinations: Destinations) -> Iterator[Stack]:
    """Holds every process a case starts and stops them all, newest first."""
    the_stack = Stack(tmp_path, destinations)
    try:
        yield the_stack
    finally:
        for thing in reversed(the_stack.started):
            thing.stop()


# --- starting the pieces --------------------------------------------------------------------


def start_relay(stack: Stack) -> RelayProcess:
    token_file = stack.tmp_path / "relay_token"
    token_file.write_text(TOKEN + "\n")
    dest = stack.destinations
    config = stack.tmp_path / "relay.yml"
    config.write_text(
        textwrap.dedent(f"""
        server:
          auth:
            bearer_token_file: {token_file}
        storage:
          url: sqlite:///{stack.tmp_path}/relay.db
        delivery:
          timeout: 5s
          retry_for: 1m
          backoff_initial: 0.2s
          backoff_max: 1s
        route:
          receiver: everyone
          group_by: []          # pass Alertmanager's groups through
        receivers:
          - name: everyone
            email_configs:
              - to: [ops@example.com]
                from: relay@example.com
                smarthost: 127.0.0.1:{dest.smtp.port}
                require_tls: false
            slack_configs:
              - api_url: {dest.slack.url}/services/T000/B000/XXXX
            wecom_configs:
              - webhook_url: {dest.wecom.url}/cgi-bin/webhook/send?key=e2e-key
            webhook_configs:
              - url: {dest.hook.url}/alerts
    """)
    )
    relay = RelayProcess(config, log_path=stack.tmp_path / "relay.log")
    stack.started.append(relay)
    stack.relay = relay.start()
    return relay


def start_alertmanagers(stack: Stack, relay: RelayProcess, count: int) -> list[ServiceProcess]:
    binary = require_binary("prometheus-alertmanager")
    token_file = stack.tmp_path / "relay_token"
    config = stack.tmp_path / "alertmanager.yml"
    config.write_text(
        textwrap.dedent(f"""
        global:
          resolve_timeout: 10s
        route:
          receiver: relay
          group_by: [alertname]
          group_wait: 1s
          group_interval: 1s
          repeat_interval: 1h
        receivers:
          - name: relay
            webhook_configs:
              - url: {relay.url}/api/v1/alerts/webhook
                send_resolved: true
                http_config:
                  authorization:
                    type: Bearer
                    credentials_file: {token_file}
    """)
    )
    web_ports = [free_port() for _ in range(count)]
    cluster_ports = [free_port() for _ in range(count)]
    started = []
    for index, web_port in enumerate(web_ports):
        data = stack.tmp_path / f"alertmanager-{index}"
        data.mkdir()
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            f"--web.external-url=http://127.0.0.1:{web_port}",
        ]
        if count == 1:
            argv.append("--cluster.listen-address=")  # no gossip port for a single instance
        else:
            argv += [f"--cluster.listen-address=127.0.0.1:{cluster_ports[index]}"]
            argv += [f"--cluster.peer=127.0.0.1:{port}" for i, port in enumerate(cluster_ports) if i != index]
            argv += [
                "--cluster.gossip-interval=200ms",
                "--cluster.pushpull-interval=1s",
                "--cluster.settle-timeout=2s",
                # The second member does not wait for the first one's notification log
                # to arrive, so both post every change: the duplicate an HA pair sends
                # whenever gossip lags, which relay's notification log must absorb.
                "--cluster.peer-timeout=0s",
                "--cluster.reconnect-interval=1s",
            ]
        am = ServiceProcess(
            f"alertmanager-{index}",
            argv,
            f"http://127.0.0.1:{web_port}/-/ready",
            stack.tmp_path / f"alertmanager-{index}.log",
        )
        stack.started.append(am)
        started.append(am.start())
    stack.alertmanagers = started
    return started


def start_prometheus(stack: Stack, alertmanager_urls: list[str]) -> ServiceProcess:
    binary = require_binary("prometheus")
    stack.target_port = free_port()  # nothing listens here until start_target()
    rules = stack.tmp_path / "rules.yml"
    rules.write_text(
        textwrap.dedent(f"""
        groups:
          - name: e2e
            rules:
              - alert: {ALERT}
                expr: up{{job="target"}} == 0
                for: 0s
                labels:
                  severity: critical
                annotations:
                  summary: "{{{{ $labels.instance }}}} is down"
    """)
    )
    targets = ", ".join(f"'{url.removeprefix('http://')}'" for url in alertmanager_urls)
    config = stack.tmp_path / "prometheus.yml"
    config.write_text(
        textwrap.dedent(f"""
        global:
          scrape_interval: 1s
          scrape_timeout: 500ms
          evaluation_interval: 1s
        rule_files: [{rules}]
        alerting:
          alertmanagers:
            - static_configs:
                - targets: [{targets}]
        scrape_configs:
          - job_name: target
            static_configs:
              - targets: ['127.0.0.1:{stack.target_port}']
    """)
    )
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={stack.tmp_path / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # Re-send firing alerts every second: Alertmanager and relay must absorb them.
        "--rules.alert.resend-delay=1s",
    ]
    prometheus = ServiceProcess(
        "prometheus", argv, f"http://127.0.0.1:{port}/-/ready", stack.tmp_path / "prometheus.log"
    )
    stack.started.append(prometheus)
    stack.prometheus = prometheus.start()
    return prometheus


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(
        f"timed out after {timeout:.0f}s waiting for {what}; "
        f"got {stack.destinations.counts()}\n{stack.logs()}"
    )


def assert_one_message_per_change(stack: Stack, expected: list[str]) -> None:
    """Wait until every destination has len(expected) messages, stay quiet for QUIET
    seconds, then check their statuses and that each names the alert."""
    wait_until(
        lambda: all(n >= len(expected) for n in stack.destinations.counts().values()),
        FIRST_MESSAGE_WITHIN,
        f"{expected[-1]} messages at every destination",
        stack,
    )
    time.sleep(QUIET)
    for name, found in stack.destinations.messages().items():
        statuses = [status for status, _ in found]
        assert statuses == expected, f"{name}: {found}\n{stack.logs()}"
        for _, text in found:
            assert ALERT in text, f"{name}: the message does not name the alert: {text}"


def am_webhook_posts(am: ServiceProcess) -> float:
    """Notifications this Alertmanager has sent through its webhook integration."""
    url = am.ready_url.removesuffix("/-/ready") + "/metrics"
    total = 0.0
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith("alertmanager_notifications_total{") and 'integration="webhook"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def relay_webhooks_accepted(relay: RelayProcess) -> float:
    for line in httpx.get(f"{relay.url}/metrics", timeout=5).text.splitlines():
        if line.startswith('relay_webhooks_received_total{code="200"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- the cases ------------------------------------------------------------------------------


def test_single_alertmanager_one_message_per_change(stack: Stack) -> None:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    relay = start_relay(stack)
    # Auth is on: only Alertmanager, with the token from its credentials_file, gets in.
    anonymous = httpx.post(f"{relay.url}/api/v1/alerts/webhook", json={}, timeout=5)
    assert anonymous.status_code == 401
    [am] = start_alertmanagers(stack, relay, 1)
    start_prometheus(stack, [am.ready_url.removesuffix("/-/ready")])

    assert_one_message_per_change(stack, ["firing"])
    firing_mail = stack.destinations.smtp.received()[0]
    assert firing_mail["To"] == "ops@example.com"
    hook = stack.destinations.hook.received[0]
    assert hook.path == "/alerts"
    assert hook.json()["alerts"][0]["labels"]["job"] == "target"
    assert stack.destinations.wecom.received[0].path == "/cgi-bin/webhook/send?key=e2e-key"

    stack.start_target()
    assert_one_message_per_change(stack, ["firing", "resolved"])
    resolved = stack.destinations.hook.received[1].json()
    assert resolved["alerts"][0]["status"] == "resolved"
    assert am_webhook_posts(am) == 2  # Alertmanager itself sent once per change


def test_ha_alertmanager_pair_still_one_message_per_change(stack: Stack) -> None:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    relay = start_relay(stack)
    ams = start_alertmanagers(stack, relay, 2)
    urls = [am.ready_url.removesuffix("/-/ready") for am in ams]

    def clustered() -> bool:
        for url in urls:
            cluster = httpx.get(f"{url}/api/v2/status", timeout=5).json()["cluster"]
            if cluster.get("status") != "ready" or len(cluster.get("peers") or []) != 2:
                return False
        return True

    wait_until(clustered, 20, "the two Alertmanagers to form a cluster", stack)
    start_prometheus(stack, urls)

    assert_one_message_per_change(stack, ["firing"])
    stack.start_target()
    assert_one_message_per_change(stack, ["firing", "resolved"])

    # Both members posted (more webhooks than changes), relay took every one of them,
    # and still only one message per change went out above.
    posts = [am_webhook_posts(am) for am in ams]
    assert sum(posts) > 2, f"the pair sent no duplicate to absorb: {posts}"
    assert relay_webhooks_accepted(relay) == sum(posts)
