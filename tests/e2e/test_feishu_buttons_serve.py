"""A Feishu app's buttons through a real `relay serve`: the firing card reaches a local
fake of Feishu's API (tenant token, IM messages) with its buttons; a press, encrypted
and signed here as Feishu does it (tests/helpers/feishu.py), silences in a real
Alertmanager (read back with amtool), and Feishu gets its toast and the updated card in
the answer. The same callback again does nothing."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.alertmanager import amtool_silences, start_alertmanager, url_of
from tests.helpers.feishu import APP_ID, CHAT_ID, ENCRYPT_KEY, VERIFICATION_TOKEN, card_action, signed_request
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.services import ServiceProcess
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e

OPEN_ID = "ou_11112222333344445555666677778888aa"
OK = {"code": 0, "msg": "ok", "tenant_access_token": "t-e2e", "expire": 7200, "data": {"message_id": "om_1"}}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, ServiceProcess, Sink]]:
    am = start_alertmanager(tmp_path)
    feishu = Sink(Answer(200, OK, {"Content-Type": "application/json"})).start()
    config = tmp_path / "relay.yml"
    config.write_text(
        textwrap.dedent(f"""
        global: {{timezone: Asia/Shanghai, locale: zh-CN}}
        storage: {{url: 'sqlite:///{tmp_path}/relay.db'}}
        alertmanager: {{url: '{url_of(am)}'}}
        route: {{receiver: app, repeat_interval: 4h}}
        receivers:
          - name: app
            feishu_app_configs:
              - app_id: {APP_ID}
                app_secret: e2e-app-secret
                chat_id: {CHAT_ID}
                api_url: {feishu.url}
                verification_token: {VERIFICATION_TOKEN}
                encrypt_key: {ENCRYPT_KEY}
        people:
          - {{name: lisi, display_name: 李四, ids: {{feishu: {OPEN_ID}}}}}
    """)
    )
    relay = RelayProcess(config).start()
    try:
        yield relay, am, feishu
    finally:
        relay.stop()
        feishu.stop()
        am.stop()


def cards(feishu: Sink) -> list[dict[str, Any]]:
    sent = [r.json() for r in feishu.received if r.path.startswith("/open-apis/im/v1/messages")]
    return [json.loads(m["content"]) for m in sent if m.get("msg_type") == "interactive"]


def test_a_press_silences_in_alertmanager_and_feishu_gets_the_updated_card(
    stack: tuple[RelayProcess, ServiceProcess, Sink],
) -> None:
    relay, am, feishu = stack
    body = webhook(alert("FeishuSilence"), group_key='{}:{alertname="FeishuSilence"}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=5).status_code == 200
    assert wait_for(lambda: cards(feishu), 15)
    rows = [e["actions"] for e in cards(feishu)[0]["elements"] if e.get("tag") == "action"]
    value = next(b["value"] for row in rows for b in row if b["text"]["content"] == "静默 1h")
    now = time.time()
    raw, headers = signed_request(card_action(value, now, "ev-e2e-1", OPEN_ID), now, "nonce-e2e")
    answer = httpx.post(f"{relay.url}/api/v1/feishu/callback", content=raw, headers=headers, timeout=15)
    assert answer.status_code == 200, answer.text
    assert answer.json()["toast"]["content"].startswith("🔕 李四 已静默至 ")
    assert answer.json()["card"]["data"]["elements"][-1]["text"]["content"].startswith("🔕 李四 已静默至 ")
    (made,) = amtool_silences(am, "alertname=FeishuSilence")
    assert made["createdBy"] == "lisi (Feishu, via relay)"
    again = httpx.post(f"{relay.url}/api/v1/feishu/callback", content=raw, headers=headers, timeout=15)
    assert again.status_code == 401
    assert len(amtool_silences(am, "alertname=FeishuSilence")) == 1
