"""Silence and acknowledge from Slack through a real `relay serve`: a real Alertmanager
(read back with amtool), Slack faked by a local server (the bot's chat.postMessage and
the click's response_url)."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from relay.channels.slack_actions import ACTIONS_BLOCK_ID, STATUS_BLOCK_ID
from relay.web.slack_interactions import INTERACTIONS_PATH
from tests.helpers.alertmanager import amtool_silences, start_alertmanager, url_of
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.services import ServiceProcess
from tests.helpers.sink import Answer, Sink
from tests.helpers.slack import slack_signature
from tests.helpers.webhooks import alert, webhook

SECRET = "e2eSigningSecret-0a1b2c3d4e5f"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, ServiceProcess, Sink]]:
    am = start_alertmanager(tmp_path)
    posted = Answer(
        200, {"ok": True, "channel": "C0ALERTS", "ts": "1.1"}, {"Content-Type": "application/json"}
    )
    slack = Sink(posted).start()
    config = tmp_path / "relay.yml"
    config.write_text(
        textwrap.dedent(f"""
        global: {{timezone: Asia/Shanghai}}
        storage: {{url: 'sqlite:///{tmp_path}/relay.db'}}
        alertmanager: {{url: '{url_of(am)}'}}
        route: {{receiver: oncall, repeat_interval: 4h}}
        receivers:
          - name: oncall
            slack_configs:
              - api_url: '{slack.url}/api/'
                token: xoxb-e2e
                channel: '#alerts'
                signing_secret: '{SECRET}'
    """)
    )
    relay = RelayProcess(config).start()
    try:
        yield relay, am, slack
    finally:
        relay.stop()
        slack.stop()
        am.stop()


def fire(relay: RelayProcess, slack: Sink, name: str) -> dict[str, Any]:
    """Post a firing alert ``name`` in a group of its own; the Slack message relay sent."""
    payload = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=payload, timeout=5).status_code == 200
    return posted_message(slack, name)


def posted_message(slack: Sink, name: str) -> dict[str, Any]:
    def found() -> bool:
        return any(r.path == "/api/chat.postMessage" and name in r.json()["text"] for r in slack.received)

    assert wait_for(found, timeout=15)
    return next(
        r.json() for r in slack.received if r.path == "/api/chat.postMessage" and name in r.json()["text"]
    )


def button_value(message: dict[str, Any]) -> str:
    for block in message["attachments"][0]["blocks"]:
        if block.get("block_id") == ACTIONS_BLOCK_ID:
            return str(block["elements"][0]["value"])
    raise AssertionError("no buttons")


def click(
    relay: RelayProcess, action: str, message: dict[str, Any], respond: str, timestamp: float
) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0E2E", "username": "bob"},
        "actions": [{"action_id": action, "value": button_value(message)}],
        "response_url": respond,
        "message": message,
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(timestamp))
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SECRET, ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return httpx.post(relay.url + INTERACTIONS_PATH, content=body, headers=headers, timeout=10)


def status_of(slack: Sink, path: str) -> list[str]:
    assert wait_for(lambda: any(r.path == path for r in slack.received), timeout=15)
    update = next(r.json() for r in slack.received if r.path == path)
    for block in update["attachments"][0]["blocks"]:
        if block.get("block_id") == STATUS_BLOCK_ID:
            return [e["text"] for e in block["elements"]]
    return []


def test_click_through_relay_serve_creates_the_silence(
    stack: tuple[RelayProcess, ServiceProcess, Sink],
) -> None:
    relay, am, slack = stack
    message = fire(relay, slack, "E2ESilence")

    # A replayed (stale) click is refused and does nothing.
    stale = click(relay, "relay_silence_1h", message, f"{slack.url}/respond/stale", time.time() - 600)
    assert stale.status_code == 401

    started = time.monotonic()
    response = click(relay, "relay_silence_1h", message, f"{slack.url}/respond/1", time.time())
    assert response.status_code == 200
    assert time.monotonic() - started < 3  # Slack's limit for the answer

    (line,) = status_of(slack, "/respond/1")
    assert line.startswith("🔕 Silenced for 1h by <@U0E2E> until ") and line.endswith(" +08:00")
    (silence,) = amtool_silences(am, "alertname=E2ESilence")
    assert silence["matchers"] == [
        {"name": "alertname", "value": "E2ESilence", "isRegex": False, "isEqual": True}
    ]
    starts = datetime.fromisoformat(silence["startsAt"][:19] + "+00:00")
    ends = datetime.fromisoformat(silence["endsAt"][:19] + "+00:00")
    assert 3590 <= (ends - starts).total_seconds() <= 3600
    assert not any(r.path == "/respond/stale" for r in slack.received)


def test_acknowledge_through_relay_serve_shows_in_the_delivery_log(
    stack: tuple[RelayProcess, ServiceProcess, Sink],
) -> None:
    relay, _, slack = stack
    message = fire(relay, slack, "E2EAck")
    assert click(relay, "relay_ack", message, f"{slack.url}/respond/ack", time.time()).status_code == 200
    assert status_of(slack, "/respond/ack") == ["✅ Acknowledged by <@U0E2E>"]
    log = httpx.get(f"{relay.url}/api/v1/notifications", timeout=5).json()["notifications"]
    assert log[0]["group_acknowledged"]["by"] == "bob"
