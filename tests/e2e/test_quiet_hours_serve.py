"""A real `relay serve` with its clock set by libfaketime a few seconds before a hold
window ends (08:00 in Asia/Shanghai): a notification held, relay killed and started
again, and at 08:00 the running relay sends the digest and the still-firing alert."""

from __future__ import annotations

import glob
import os
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_binary
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook


def libfaketime() -> str:
    require_binary("faketime")
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        message = "libfaketime.so.1 not found (apt-get install faketime)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found[0]


def clock_at(utc: str) -> dict[str, str]:
    """relay's clock starts at ``utc`` and runs on from there."""
    return {"LD_PRELOAD": libfaketime(), "FAKETIME": f"@{utc}", "TZ": "UTC", "FAKETIME_DONT_RESET": "1"}


def write_config(tmp_path: Path, sink: Sink) -> Path:
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(f"""
        storage:
          url: sqlite:///{tmp_path}/relay.db
        time_intervals:
          - name: night
            time_intervals:
              - times:
                  - {{start_time: "22:00", end_time: "24:00"}}
                  - {{start_time: "00:00", end_time: "08:00"}}
                location: Asia/Shanghai
        route:
          receiver: team
          hold_time_intervals: [night]
          routes:
            - matchers: ['severity="critical"']
        receivers:
          - name: team
            webhook_configs:
              - url: {sink.url}/hook
    """)
    )
    return path


def test_held_overnight_released_at_eight_by_the_running_relay(tmp_path: Path) -> None:
    with Sink() as sink:
        config = write_config(tmp_path, sink)
        # 07:59:30 in Shanghai on Tuesday 3 March 2026.
        relay = RelayProcess(config, env=clock_at("2026-03-02 23:59:30")).start()
        try:
            url = f"{relay.url}/api/v1/alerts/webhook"
            held = httpx.post(
                url, json=webhook(alert("DiskFull", "db-1"), group_key='{}:{alertname="DiskFull"}'), timeout=5
            )
            assert [s["reason"] for s in held.json()["suppressed"]] == ["held"], held.text
            critical = httpx.post(
                url,
                json=webhook(alert("Down", "db-1", severity="critical"), group_key='{}:{alertname="Down"}'),
                timeout=5,
            )
            assert critical.json()["notifications"] == 1
            assert wait_for(lambda: sink.count() == 1, timeout=10)
            relay.kill9()
        finally:
            relay.stop()
        # Started again 5 s before 08:00: the held notification is in the store.
        relay = RelayProcess(config, env=clock_at("2026-03-02 23:59:55")).start()
        try:
            assert wait_for(lambda: sink.count() >= 3, timeout=30), relay.log()
            bodies = [r.json() for r in sink.received[1:]]
            [digest] = [b for b in bodies if b.get("version") == "relay.digest/1"]
            [again] = [b for b in bodies if b is not digest]
            assert digest["kind"] == "hold"
            assert [(e["alertname"], e["status"]) for e in digest["entries"]] == [("DiskFull", "firing")]
            assert again["groupKey"] == '{}:{alertname="DiskFull"}'
            assert [a["labels"]["alertname"] for a in again["alerts"]] == ["DiskFull"]
            assert sink.count() == 3
        finally:
            relay.stop()
