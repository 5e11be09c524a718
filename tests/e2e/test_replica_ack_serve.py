"""``storage.min_replicas_acked`` through a real `relay serve` on a real Redis primary and
replica: with the replica stopped (SIGSTOP), a webhook is answered 503 with Retry-After,
never 200; sent again once the replica answers, it is 200 and notifies exactly once
(the first try's write was kept and is found, not doubled)."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_binary
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.redis_server import RedisServer
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e


@pytest.fixture
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    binary = require_binary("redis-server")
    with RedisServer(binary=binary) as primary:
        replica = RedisServer(binary=binary, args=["--replicaof", "127.0.0.1", str(primary.port)])
        with replica:
            yield primary, replica


def test_no_200_before_the_replica_holds_the_webhook(
    tmp_path: Path, pair: tuple[RedisServer, RedisServer]
) -> None:
    primary, replica = pair
    with Sink() as sink:
        config = tmp_path / "relay.yml"
        config.write_text(
            textwrap.dedent(f"""
            storage:
              url: "{primary.url}?prefix=acked:"
              min_replicas_acked: 1
              replica_ack_timeout: 0.5s
            route: {{receiver: hook}}
            receivers:
              - name: hook
                webhook_configs: [{{url: "http://127.0.0.1:{sink.port}/hook"}}]
            """)
        )
        relay = RelayProcess(config).start()
        try:
            url = f"{relay.url}/api/v1/alerts/webhook"
            body = webhook(alert("Replicated"), group_key='{}:{alertname="Replicated"}')
            assert wait_for(lambda: httpx.post(url, json=body, timeout=5).status_code == 200, 20)
            assert wait_for(lambda: sink.count() == 1, 20)
            assert replica.proc is not None
            os.kill(replica.proc.pid, signal.SIGSTOP)  # the replica stops answering
            try:
                other = webhook(alert("NotYetReplicated"), group_key='{}:{alertname="NotYetReplicated"}')
                answer = httpx.post(url, json=other, timeout=10)
                assert answer.status_code == 503 and answer.headers["Retry-After"]
                assert "reached 0 of 1 replicas" in answer.text
                again = httpx.post(url, json=other, timeout=10)  # Alertmanager's retry: still no
                assert again.status_code == 503
            finally:
                os.kill(replica.proc.pid, signal.SIGCONT)
            assert wait_for(lambda: httpx.post(url, json=other, timeout=10).status_code == 200, 20)
            assert wait_for(lambda: sink.count() >= 2, 20)
            time.sleep(1.5)  # room for a second copy, if there were one
            names = [r.json()["alerts"][0]["labels"]["alertname"] for r in sink.received]
            assert names == ["Replicated", "NotYetReplicated"]
        finally:
            relay.stop()
