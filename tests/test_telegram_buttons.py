"""Telegram buttons: Acknowledge / Silence on firing messages, presses arriving at the
bot's webhook (verified by its secret token before anything is read) or by polling,
acting once, and the message's keyboard saying who did it. Telegram is faked with
respx; a real `relay serve` with a local fake is tests/e2e/test_telegram_buttons_serve.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from relay.channels.base import Message
from relay.core.alerts import Notification
from relay.core.clock import FakeClock
from relay.web.telegram_updates import UPDATES_PATH, Poller
from tests.helpers.webhooks import alert, webhook

T0 = 1_800_000_000.0
TOKEN = "123456789:AAHexampleexampleexampleexample0123"
API = "https://tg.example"
SECRET = "tg-webhook-secret_0123"
CONFIG = f"""
global: {{locale: en}}
alertmanager: {{url: "http://127.0.0.1:9"}}
route: {{receiver: tg, repeat_interval: 4h}}
receivers:
  - name: tg
    telegram_configs:
      - {{bot_token: "{TOKEN}", chat_id: -100123, api_url: "{API}", webhook_secret: "{SECRET}"}}
people:
  - {{name: zhangsan, display_name: 张三, ids: {{telegram: "4242"}}}}
"""


async def fire(relay: Any, name: str = "DiskFull") -> tuple[str, dict[str, Any]]:
    body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
    assert (await relay.post(body)).status_code == 200
    job = next(j for j in await relay.jobs() if name in j.group_key)
    notifier = relay.state.runtime.notifiers[job.integration]
    message = Message(job.id, Notification.model_validate(job.payload), job.integration)
    return job.group_key, notifier.render_parts(message)[0]


def press(data: str, update_id: int = 1, user: int = 4242) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": {"id": user, "is_bot": False, "first_name": "San", "username": "zs"},
            "message": {"message_id": 77, "chat": {"id": -100123, "type": "supergroup"}},
            "data": data,
        },
    }


def bot(respx_mock: respx.MockRouter) -> dict[str, respx.Route]:
    ok = httpx.Response(200, json={"ok": True, "result": True})
    return {
        method: respx_mock.post(f"{API}/bot{TOKEN}/{method}").mock(return_value=ok)
        for method in ("answerCallbackQuery", "editMessageReplyMarkup")
    }


async def test_a_firing_message_carries_the_buttons_and_no_duplicate_links(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        _, body = await fire(relay)
        (row,) = body["reply_markup"]["inline_keyboard"]
        assert [b["text"] for b in row] == ["✅ Acknowledge", "🔕 1h", "🔕 4h"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in row)
        assert "/a/" not in body["text"]


async def test_without_a_way_to_hear_presses_there_are_no_buttons(relay_factory) -> None:
    async with relay_factory(CONFIG.replace(f', webhook_secret: "{SECRET}"', "")) as relay:
        _, body = await fire(relay)
        assert "reply_markup" not in body


@pytest.mark.parametrize("header", [None, "wrong-secret", SECRET + "x"])
async def test_an_update_without_the_secret_is_refused_unread(relay_factory, header: str | None) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header else {}
        answer = await relay.client.post(UPDATES_PATH, content=b"{not json", headers=headers)
        assert answer.status_code == 401


async def test_a_press_acknowledges_once_and_the_keyboard_says_who(
    relay_factory, respx_mock: respx.MockRouter
) -> None:
    calls = bot(respx_mock)
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, body = await fire(relay)
        ack = body["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        answer = await relay.client.post(UPDATES_PATH, json=press(ack), headers=headers)
        assert answer.status_code == 200
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is not None
        assert (group.ack["by"], group.ack["via"]) == ("zhangsan", "telegram")
        toast = json.loads(calls["answerCallbackQuery"].calls.last.request.content)
        assert toast == {"callback_query_id": "cb1", "text": "✅ 张三 acknowledged"}
        edit = json.loads(calls["editMessageReplyMarkup"].calls.last.request.content)
        assert edit["chat_id"] == -100123 and edit["message_id"] == 77
        assert edit["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ 张三 acknowledged"
        # Telegram sends an update again when it thinks it was lost: nothing more happens.
        again = await relay.client.post(UPDATES_PATH, json=press(ack), headers=headers)
        assert again.status_code == 200 and calls["answerCallbackQuery"].call_count == 1
        assert [e["event"] for e in group.timeline].count("acknowledged") == 1


async def test_a_changed_button_acts_on_nothing(relay_factory, respx_mock: respx.MockRouter) -> None:
    calls = bot(respx_mock)
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, body = await fire(relay)
        data = body["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        forged = data[:-2] + ("AA" if not data.endswith("AA") else "BB")
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        await relay.client.post(UPDATES_PATH, json=press(forged, 5, user=999), headers=headers)
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is None
        toast = json.loads(calls["answerCallbackQuery"].calls.last.request.content)
        assert toast["text"] == "Not a button of this relay"
        assert calls["editMessageReplyMarkup"].call_count == 0


async def test_polling_takes_presses_once_and_one_replica_polls(
    relay_factory, respx_mock: respx.MockRouter
) -> None:
    polling = CONFIG.replace(f'webhook_secret: "{SECRET}"', "updates: polling")
    calls = bot(respx_mock)
    async with relay_factory(polling, clock=FakeClock(T0)) as relay:
        key, body = await fire(relay)
        ack = body["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        updates = respx_mock.post(f"{API}/bot{TOKEN}/getUpdates").mock(
            return_value=httpx.Response(200, json={"ok": True, "result": [press(ack, 9, user=5)]})
        )
        first, second = Poller(relay.state), Poller(relay.state)
        offsets: dict[str, int] = {}
        bot_id = TOKEN.partition(":")[0]
        cfg = relay.state.runtime.config.receivers[0].telegram_configs[0]
        await first._poll(bot_id, cfg, offsets)
        await first._poll(bot_id, cfg, offsets)  # the same update again: acted on once
        assert not await second._lease(bot_id)  # the first holds the bot
        assert offsets[bot_id] == 10
        assert json.loads(updates.calls.last.request.content)["offset"] == 10
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is not None and group.ack["by"] == "zs"
        assert calls["answerCallbackQuery"].call_count == 1
