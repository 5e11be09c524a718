"""Feishu end to end: a real `relay serve` posts signed cards to a local fake bot, signs
afresh after 19021, and splits a notification over 20 KB into numbered cards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook

TOKEN = "e2eHookToken-3f2a1b0c9d8e"
SECRET = "e2eSignSecret-4d5e6f7a"
OK = {"code": 0, "data": {}, "msg": "success"}
SIGN_FAIL = {
    "code": 19021,
    "data": {},
    "msg": "sign match fail or timestamp is not within one hour from current time",
}


def signature(timestamp: str) -> str:
    key = f"{timestamp}\n{SECRET}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


@pytest.fixture
def bot() -> Iterator[Sink]:
    with Sink(Answer(body=OK, headers={"Content-Type": "application/json"})) as sink:
        yield sink


@pytest.fixture
def relay(tmp_path: Path, bot: Sink) -> Iterator[RelayProcess]:
    config = tmp_path / "relay.yml"
    config.write_text(
        f"""
storage: {{url: "sqlite:///./relay.db"}}
route: {{receiver: feishu, group_by: [alertname], group_wait: 0s}}
receivers:
  - name: feishu
    feishu_configs:
      - webhook_url: "{bot.url}/open-apis/bot/v2/hook/{TOKEN}"
        secret: "{SECRET}"
""",
        encoding="utf-8",
    )
    process = RelayProcess(config).start()
    try:
        yield process
    finally:
        process.stop()


def test_signed_cards_resigned_after_19021_and_split_past_20_kb(
    relay: RelayProcess,
    bot: Sink,
) -> None:
    bot.answer(Answer(body=SIGN_FAIL, headers={"Content-Type": "application/json"}))
    small = webhook(alert("DiskFull"), group_key='{}:{alertname="DiskFull"}')
    big = webhook(
        *(alert("Flood", instance=f"node-{i}", blob="洪" * 4000) for i in range(2)),
        group_key='{}:{alertname="Flood"}',
    )
    for payload in (small, big):
        answer = httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=payload, timeout=5)
        assert answer.status_code == 200
    assert wait_for(lambda: [n["status"] for n in relay.jobs()].count("delivered") == 2, timeout=20), (
        relay.log()
    )

    bodies = [r.json() for r in bot.received]
    assert len(bodies) == 4  # refused once (19021), signed afresh, and two cards
    assert {r.path for r in bot.received} == {f"/open-apis/bot/v2/hook/{TOKEN}"}
    for body in bodies:
        assert body["sign"] == signature(body["timestamp"])
    titles = sorted(b["card"]["header"]["title"]["content"] for b in bodies[1:])
    assert titles == ["🟠 [FIRING:1] DiskFull", "🟠 [FIRING:2] Flood (1/2)", "🟠 [FIRING:2] Flood (2/2)"]
    assert bodies[0]["card"] == next(
        b["card"] for b in bodies[1:] if b["card"]["header"] == bodies[0]["card"]["header"]
    )
    for received in bot.received:
        assert len(received.body) <= 20_000
    assert TOKEN not in relay.log() and SECRET not in relay.log()
    flood = [b for b in bodies[1:] if "Flood" in b["card"]["header"]["title"]["content"]]
    assert ["node-0" in json.dumps(b) for b in flood] == [True, False]  # each alert once
