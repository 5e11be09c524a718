"""WeCom application buttons: a button card after a firing message, and the callback
URL. WeCom's side (its signature and AES encryption) is written here from WeCom's
documentation with another AES library (pycryptodome), not with relay's helpers: the URL
check, a press that acknowledges once and updates every receiver's card, and bad
signatures, stale timestamps and replayed nonces refused with nothing done."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from relay.channels.base import Message
from relay.config import parse_config
from relay.core.alerts import Notification
from relay.core.clock import FakeClock
from relay.core.errors import ConfigError
from tests.helpers.webhooks import alert, webhook
from tests.helpers.wecom import AES_KEY, CORP, TOKEN, callback, press_event, wecom_encrypt, wecom_signature

T0 = 1_800_000_000.0
API = "https://qyapi.example/cgi-bin/"

CONFIG = f"""
global: {{locale: en}}
alertmanager: {{url: "http://127.0.0.1:9"}}
route: {{receiver: app, repeat_interval: 4h}}
receivers:
  - name: app
    wecom_app_configs:
      - corp_id: {CORP}
        agent_id: 1000002
        api_secret: app-secret-0123
        to_user: ZhangSan|LiSi
        api_url: {API}
        token: {TOKEN}
        encoding_aes_key: {AES_KEY}
people:
  - {{name: zhangsan, display_name: 张三, ids: {{wecom: ZhangSan}}}}
"""


async def fire(relay: Any) -> tuple[str, list[dict[str, Any]]]:
    body = webhook(alert("DiskFull"), group_key='{}:{alertname="DiskFull"}')
    assert (await relay.post(body)).status_code == 200
    job = next(j for j in await relay.jobs())
    notifier = relay.state.runtime.notifiers[job.integration]
    return job.group_key, notifier.render_parts(
        Message(job.id, Notification.model_validate(job.payload), job.integration)
    )


def wecom_api(respx_mock: respx.MockRouter) -> respx.Route:
    respx_mock.get(url__startswith=f"{API}gettoken").mock(
        return_value=httpx.Response(200, json={"errcode": 0, "access_token": "at-1", "expires_in": 7200})
    )
    return respx_mock.post(url__startswith=f"{API}message/update_template_card").mock(
        return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
    )


async def test_a_firing_message_ends_with_a_button_card(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        _, bodies = await fire(relay)
        text, card = bodies[0], bodies[-1]
        assert "/a/" not in json.dumps(text)
        assert card["msgtype"] == "template_card" and card["touser"] == "ZhangSan|LiSi"
        tpl = card["template_card"]
        assert tpl["card_type"] == "button_interaction" and tpl["task_id"].startswith("relay-")
        assert [b["text"] for b in tpl["button_list"]] == ["Acknowledge", "Silence 1h", "Silence 4h"]
        assert all(b["key"].startswith("r:") and len(b["key"]) <= 1024 for b in tpl["button_list"])


async def test_the_url_check_returns_the_decrypted_echostr(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        echo = wecom_encrypt(b"1616140317555161061")
        stamp, nonce = str(int(T0)), "nonce-1"
        query = {
            "msg_signature": wecom_signature(stamp, nonce, echo),
            "timestamp": stamp,
            "nonce": nonce,
            "echostr": echo,
        }
        answer = await relay.client.get("/api/v1/wecom/callback", params=query)
        assert answer.status_code == 200 and answer.text == "1616140317555161061"
        query["msg_signature"] = "0" * 40
        assert (await relay.client.get("/api/v1/wecom/callback", params=query)).status_code == 401


async def test_a_press_acknowledges_once_and_updates_every_card(
    relay_factory, respx_mock: respx.MockRouter
) -> None:
    update = wecom_api(respx_mock)
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, bodies = await fire(relay)
        tpl = bodies[-1]["template_card"]
        event = wecom_encrypt(press_event(tpl["button_list"][0]["key"], tpl["task_id"], T0))
        path, body = callback(event, T0, "n-1")
        answer = await relay.client.post(path, content=body)
        assert answer.status_code == 200 and answer.text == ""
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is not None
        assert (group.ack["by"], group.ack["via"]) == ("zhangsan", "wecom")
        sent = json.loads(update.calls.last.request.content)
        assert sent == {
            "atall": 1,
            "agentid": 1000002,
            "response_code": "rc-1",
            "button": {"replace_name": "✅ 张三 acknowledged"},
        }
        # The same callback again (a replayed nonce): refused, nothing more.
        again = await relay.client.post(path, content=body)
        assert again.status_code == 401 and update.call_count == 1


@pytest.mark.parametrize("problem", ["signature", "stale", "garbage"])
async def test_a_callback_that_is_not_wecoms_does_nothing(
    relay_factory, respx_mock: respx.MockRouter, problem: str
) -> None:
    update = wecom_api(respx_mock)
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, bodies = await fire(relay)
        tpl = bodies[-1]["template_card"]
        event = wecom_encrypt(press_event(tpl["button_list"][0]["key"], tpl["task_id"], T0))
        if problem == "signature":
            path, body = callback(event, T0, "n-2", signature="1" * 40)
        elif problem == "stale":
            path, body = callback(event, T0 - 600, "n-3")
        else:
            path, body = "/api/v1/wecom/callback?timestamp=1", b"<xml><!DOCTYPE boom></xml>"
        answer = await relay.client.post(path, content=body)
        assert answer.status_code in (400, 401)
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is None and update.call_count == 0


def test_the_callback_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="token and encoding_aes_key go together"):
        parse_config(CONFIG.replace(f"        encoding_aes_key: {AES_KEY}\n", ""), env={})
    with pytest.raises(ConfigError, match="43 characters"):
        parse_config(CONFIG.replace(AES_KEY, AES_KEY[:40]), env={})
