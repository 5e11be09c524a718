"""Telegram buttons through a real `relay serve`: a firing message reaches a local fake
Bot API with its inline keyboard; a press sent to relay's webhook as Telegram sends it
(with the secret token) creates the silence in a real Alertmanager (read back with
amtool), and the fake receives the toast and the keyboard saying who did it. A press
without the secret, and the same update twice, create nothing more."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.alertmanager import amtool_silences, start_alertmanager, url_of
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.services import ServiceProcess
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e

TOKEN = "123456789:AAHe2eTelegramBotToken012345678901"
SECRET = "e2e-telegram-secret_42"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, ServiceProcess, Sink]]:
    am = start_alertmanager(tmp_path)
    telegram = Sink(
        Answer(200, {"ok": True, "result": {"message_id": 77}}, {"Content-Type": "application/json"})
    ).start()
    config = tmp_path / "relay.yml"
    config.write_text(
        textwrap.dedent(f"""
        global: {{timezone: Asia/Shanghai}}
        storage: {{url: 'sqlite:///{tmp_path}/relay.db'}}
        alertmanager: {{url: '{url_of(am)}'}}
        route: {{receiver: tg, repeat_interval: 4h}}
        receivers:
          - name: tg
            telegram_configs:
              - bot_token: "{TOKEN}"
                chat_id: -100123
                api_url: "{telegram.url}"
                webhook_secret: "{SECRET}"
        people:
          - {{name: zhangsan, display_name: 张三, ids: {{telegram: "4242"}}}}
    """)
    )
    relay = RelayProcess(config).start()
    try:
        yield relay, am, telegram
    finally:
        relay.stop()
        telegram.stop()
        am.stop()


def received(telegram: Sink, method: str) -> list[dict[str, Any]]:
    return [r.json() for r in telegram.received if r.path == f"/bot{TOKEN}/{method}"]


def test_a_press_silences_in_alertmanager_and_the_keyboard_says_who(
    stack: tuple[RelayProcess, ServiceProcess, Sink],
) -> None:
    relay, am, telegram = stack
    body = webhook(alert("TgSilence"), group_key='{}:{alertname="TgSilence"}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=5).status_code == 200
    assert wait_for(lambda: received(telegram, "sendMessage"), timeout=15)
    (row,) = received(telegram, "sendMessage")[0]["reply_markup"]["inline_keyboard"]
    silence = next(b["callback_data"] for b in row if b["text"] == "🔕 1h")
    update = {
        "update_id": 5001,
        "callback_query": {
            "id": "cb-5001",
            "from": {"id": 4242, "is_bot": False, "first_name": "San"},
            "message": {"message_id": 77, "chat": {"id": -100123, "type": "supergroup"}},
            "chat_instance": "1",
            "data": silence,
        },
    }
    url = f"{relay.url}/api/v1/telegram/updates"
    assert httpx.post(url, json=update, timeout=10).status_code == 401  # no secret token
    assert amtool_silences(am, "alertname=TgSilence") == []
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert httpx.post(url, json=update, headers=headers, timeout=15).status_code == 200
    (made,) = amtool_silences(am, "alertname=TgSilence")
    assert made["createdBy"] == "zhangsan (Telegram, via relay)"
    assert wait_for(lambda: received(telegram, "editMessageReplyMarkup"), timeout=10)
    (edit,) = received(telegram, "editMessageReplyMarkup")
    assert edit["reply_markup"]["inline_keyboard"][0][0]["text"].startswith("🔕 张三 silenced until ")
    (toast,) = received(telegram, "answerCallbackQuery")
    assert toast["callback_query_id"] == "cb-5001"
    # Telegram re-sends an update it thinks was lost: nothing more happens.
    assert httpx.post(url, json=update, headers=headers, timeout=15).status_code == 200
    assert len(amtool_silences(am, "alertname=TgSilence")) == 1
    assert len(received(telegram, "answerCallbackQuery")) == 1
