"""A real `relay serve`: jobs survive kill -9; SIGTERM leaves work queued; SIGHUP reloads."""

from __future__ import annotations

import signal
import textwrap
from collections import Counter
from pathlib import Path

import httpx

from tests.helpers.process import RelayProcess, free_port, wait_for
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook


def write_config(tmp_path: Path, sink_port: int, receiver: str = "hook") -> Path:
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(f"""
        storage:
          url: sqlite:///{tmp_path}/relay.db
        delivery:
          timeout: 2s
          retry_for: 1h
          backoff_initial: 0.2s
          backoff_max: 1s
        route:
          receiver: {receiver}
        receivers:
          - name: hook
            webhook_configs:
              - url: http://127.0.0.1:{sink_port}/hook
          - name: quiet
            log_configs: [{{}}]
    """)
    )
    return path


def post_groups(relay: RelayProcess, count: int) -> None:
    for i in range(count):
        response = httpx.post(
            f"{relay.url}/api/v1/alerts/webhook",
            json=webhook(alert(instance=f"node-{i}"), group_key=f'{{}}:{{instance="node-{i}"}}'),
            timeout=5,
        )
        assert response.status_code == 200, response.text


def test_pending_jobs_survive_kill_9(tmp_path: Path) -> None:
    sink_port = free_port()  # nothing listens yet: connections are refused
    config = write_config(tmp_path, sink_port)
    relay = RelayProcess(config).start()
    try:
        post_groups(relay, 20)
        pending = httpx.get(f"{relay.url}/api/v1/notifications?status=pending", timeout=5).json()
        running = httpx.get(f"{relay.url}/api/v1/notifications?status=running", timeout=5).json()
        assert len(pending["notifications"]) + len(running["notifications"]) == 20
        relay.kill9()
    finally:
        relay.stop()

    with Sink(port=sink_port) as sink:
        relay = RelayProcess(config, port=relay.port).start()
        try:
            delivered = wait_for(
                lambda: len({r.headers["Idempotency-Key"] for r in sink.received}) >= 20, timeout=30
            )
            assert delivered, relay.log()
            jobs = relay.settled_jobs(20)
            assert {n["status"] for n in jobs} == {"delivered"}, relay.log()
            assert len(jobs) == 20
            # Nothing reached the sink before the kill, so nothing is sent twice after it.
            keys = Counter(r.headers["Idempotency-Key"] for r in sink.received)
            assert max(keys.values()) == 1, keys.most_common(3)
            instances = {r.json()["alerts"][0]["labels"]["instance"] for r in sink.received}
            assert instances == {f"node-{i}" for i in range(20)}
        finally:
            assert relay.stop(), relay.log()


def test_sigterm_leaves_unfinished_jobs_queued(tmp_path: Path) -> None:
    sink_port = free_port()
    config = write_config(tmp_path, sink_port)
    relay = RelayProcess(config).start()
    post_groups(relay, 5)
    assert relay.stop(), relay.log()  # graceful
    with Sink(port=sink_port) as sink:
        relay = RelayProcess(config, port=relay.port).start()
        try:
            assert wait_for(
                lambda: len({r.headers["Idempotency-Key"] for r in sink.received}) == 5, timeout=30
            ), relay.log()
        finally:
            relay.stop()


def test_sighup_reloads_and_a_broken_config_keeps_the_old_one(tmp_path: Path) -> None:
    with Sink() as sink:
        config = write_config(tmp_path, sink.port, receiver="quiet")
        relay = RelayProcess(config).start()
        try:
            post_groups(relay, 1)
            first_hash = _status(relay)["config"]["hash"]
            config.write_text(config.read_text().replace("receiver: quiet", "receiver: hook"))
            relay.signal(signal.SIGHUP)
            assert wait_for(lambda: _status(relay)["config"]["hash"] != first_hash)
            response = httpx.post(
                f"{relay.url}/api/v1/alerts/webhook", json=webhook(alert(instance="after-reload")), timeout=5
            )
            assert response.status_code == 200
            assert wait_for(lambda: sink.count() == 1, timeout=15), relay.log()

            config.write_text("route: [\n")
            relay.signal(signal.SIGHUP)
            assert wait_for(lambda: "invalid YAML" in _status(relay)["config"]["last_reload_error"])
            metrics = httpx.get(f"{relay.url}/metrics", timeout=5).text
            assert "relay_config_last_reload_successful 0.0" in metrics
            response = httpx.post(
                f"{relay.url}/api/v1/alerts/webhook", json=webhook(alert(instance="still-routed")), timeout=5
            )
            assert response.status_code == 200
            assert wait_for(lambda: sink.count() == 2, timeout=15), relay.log()
        finally:
            assert relay.stop(), relay.log()


def _status(relay: RelayProcess) -> dict:  # type: ignore[type-arg]
    return httpx.get(f"{relay.url}/api/v1/status", timeout=5).json()


def test_a_second_relay_on_the_same_database_exits_with_the_owner_pid(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), receiver="quiet")
    first = RelayProcess(config).start()
    try:
        second = RelayProcess(config)
        try:
            second.start(timeout=15)
        except RuntimeError as exc:
            refused = str(exc)
        else:
            second.stop()
            raise AssertionError("a second relay started on the same SQLite file")
        assert second.proc is not None and second.proc.returncode == 1
        assert f"is in use by another relay (pid {first.proc.pid})" in refused  # type: ignore[union-attr]
        assert "Traceback" not in refused
        post_groups(first, 1)  # the first one is untouched
    finally:
        assert first.stop()
    # Once the first is gone, the file is free again.
    third = RelayProcess(config).start()
    assert third.stop()
