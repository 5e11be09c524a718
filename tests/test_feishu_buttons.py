"""A Feishu app's cards with Acknowledge / Silence buttons, and its card callback. Feishu's
side (AES-256-CBC with the SHA-256 of the encrypt key, the SHA-256 request signature) is
written from Feishu's documentation with pycryptodome (tests/helpers/feishu.py): the URL
check, a press acting once with a toast and the updated card, and bad signatures, stale
or replayed callbacks and wrong tokens refused with nothing done."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from relay.channels.base import Message
from relay.core.alerts import Notification
from relay.core.clock import FakeClock
from tests.helpers.feishu import (
    APP_ID,
    CHAT_ID,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    card_action,
    feishu_encrypt,
    feishu_headers,
    signed_request,
)
from tests.helpers.webhooks import alert, webhook

T0 = 1_800_000_000.0
API = "https://feishu.example"
PATH = "/api/v1/feishu/callback"
OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706cc"
CONFIG = f"""
global: {{locale: en}}
alertmanager: {{url: "http://127.0.0.1:9"}}
route: {{receiver: app, repeat_interval: 4h}}
receivers:
  - name: app
    feishu_app_configs:
      - app_id: {APP_ID}
        app_secret: app-secret-0123
        chat_id: {CHAT_ID}
        api_url: {API}
        verification_token: {VERIFICATION_TOKEN}
        encrypt_key: {ENCRYPT_KEY}
people:
  - {{name: zhangsan, display_name: 张三, ids: {{feishu: {OPEN_ID}}}}}
"""


async def fire(relay: Any) -> tuple[str, dict[str, Any]]:
    body = webhook(alert("DiskFull"), group_key='{}:{alertname="DiskFull"}')
    assert (await relay.post(body)).status_code == 200
    job = next(j for j in await relay.jobs())
    notifier = relay.state.runtime.notifiers[job.integration]
    message = Message(job.id, Notification.model_validate(job.payload), job.integration)
    return job.group_key, notifier.render_parts(message)[0]


def buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b for e in body["card"]["elements"] if e.get("tag") == "action" for b in e["actions"] if "value" in b
    ]


async def test_the_card_carries_buttons_that_call_back(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        _, body = await fire(relay)
        assert [b["text"]["content"] for b in buttons(body)] == ["Acknowledge", "Silence 1h", "Silence 4h"]
        assert body["card"]["config"]["update_multi"] is True
        assert "/a/" not in json.dumps(body)  # no links that do the same


async def test_sending_takes_a_tenant_token_and_posts_to_the_chat(
    relay_factory, respx_mock: respx.MockRouter
) -> None:
    token = respx_mock.post(f"{API}/open-apis/auth/v3/tenant_access_token/internal").mock(
        return_value=httpx.Response(200, json={"code": 0, "tenant_access_token": "t-1", "expire": 7200})
    )
    sent = respx_mock.post(f"{API}/open-apis/im/v1/messages").mock(
        return_value=httpx.Response(200, json={"code": 0, "data": {"message_id": "om_1"}})
    )
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        await relay.post(webhook(alert("DiskFull"), group_key='{}:{alertname="DiskFull"}'))
        await relay.deliver_all()
        assert json.loads(token.calls.last.request.content) == {
            "app_id": APP_ID,
            "app_secret": "app-secret-0123",
        }
        request = sent.calls.last.request
        assert request.url.params["receive_id_type"] == "chat_id"
        assert request.headers["authorization"] == "Bearer t-1"
        body = json.loads(request.content)
        assert body["receive_id"] == CHAT_ID and body["msg_type"] == "interactive"
        assert json.loads(body["content"])["header"]["title"]["content"]
        (job,) = await relay.jobs()
        assert job.status == "delivered"


async def test_the_url_check_answers_the_challenge_for_the_right_token(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        check = {"challenge": "c-123", "type": "url_verification", "token": VERIFICATION_TOKEN}
        plain = await relay.client.post(PATH, json=check)
        assert plain.status_code == 200 and plain.json() == {"challenge": "c-123"}
        encrypted = await relay.client.post(PATH, json={"encrypt": feishu_encrypt(check)})
        assert encrypted.json() == {"challenge": "c-123"}
        wrong = await relay.client.post(PATH, json={**check, "token": "nope"})
        assert wrong.status_code == 401


async def test_a_press_acknowledges_once_with_a_toast_and_the_updated_card(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, body = await fire(relay)
        ack = buttons(body)[0]["value"]
        raw, headers = signed_request(card_action(ack, T0, "ev-1", OPEN_ID), T0, "n-1")
        answer = await relay.client.post(PATH, content=raw, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["toast"] == {"type": "success", "content": "✅ 张三 acknowledged"}
        card = answer.json()["card"]["data"]
        assert card["elements"][-1]["text"]["content"] == "✅ 张三 acknowledged"
        assert not buttons({"card": card})
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is not None
        assert (group.ack["by"], group.ack["via"]) == ("zhangsan", "feishu")
        again = await relay.client.post(PATH, content=raw, headers=headers)
        assert again.status_code == 401  # the same event_id: a replay


@pytest.mark.parametrize("problem", ["signature", "stale", "unsigned", "token"])
async def test_a_callback_that_is_not_the_apps_does_nothing(relay_factory, problem: str) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, body = await fire(relay)
        event = card_action(buttons(body)[0]["value"], T0, f"ev-{problem}", OPEN_ID)
        raw, headers = signed_request(event, T0, "n-2")
        if problem == "signature":
            headers["X-Lark-Signature"] = "0" * 64
        elif problem == "stale":
            raw, headers = signed_request(event, T0 - 600, "n-3")
        elif problem == "unsigned":
            headers = {"Content-Type": "application/json"}
        else:
            event["header"]["token"] = "not-the-token"
            raw = json.dumps({"encrypt": feishu_encrypt(event)}).encode()
            headers = feishu_headers(raw, T0, "n-4")
        answer = await relay.client.post(PATH, content=raw, headers=headers)
        assert answer.status_code == 401
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is None
