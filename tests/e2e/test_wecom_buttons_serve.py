"""WeCom application buttons through a real `relay serve`: the firing message's button
card reaches a local fake of WeCom's API; a press, encrypted and signed here as WeCom
does it (tests/helpers/wecom.py, from WeCom's documentation), silences in a real
Alertmanager (read back with amtool), and the fake receives update_template_card."""

from __future__ import annotations

import textwrap
import time
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
from tests.helpers.wecom import AES_KEY, CORP, TOKEN, callback, press_event, wecom_encrypt

pytestmark = pytest.mark.e2e

OK = {"errcode": 0, "errmsg": "ok", "access_token": "e2e-access-token", "expires_in": 7200}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, ServiceProcess, Sink]]:
    am = start_alertmanager(tmp_path)
    wecom = Sink(Answer(200, OK, {"Content-Type": "application/json"})).start()
    config = tmp_path / "relay.yml"
    config.write_text(
        textwrap.dedent(f"""
        global: {{timezone: Asia/Shanghai, locale: zh-CN}}
        storage: {{url: 'sqlite:///{tmp_path}/relay.db'}}
        alertmanager: {{url: '{url_of(am)}'}}
        route: {{receiver: app, repeat_interval: 4h}}
        receivers:
          - name: app
            wecom_app_configs:
              - corp_id: {CORP}
                agent_id: 1000002
                api_secret: e2e-app-secret
                to_user: ZhangSan
                api_url: {wecom.url}/cgi-bin/
                token: {TOKEN}
                encoding_aes_key: {AES_KEY}
        people:
          - {{name: zhangsan, display_name: 张三, ids: {{wecom: ZhangSan}}}}
    """)
    )
    relay = RelayProcess(config).start()
    try:
        yield relay, am, wecom
    finally:
        relay.stop()
        wecom.stop()
        am.stop()


def sent(wecom: Sink, path: str) -> list[dict[str, Any]]:
    return [r.json() for r in wecom.received if r.path.startswith(f"/cgi-bin/{path}")]


def test_a_card_press_silences_in_alertmanager_and_updates_the_card(
    stack: tuple[RelayProcess, ServiceProcess, Sink],
) -> None:
    relay, am, wecom = stack
    body = webhook(alert("WeComSilence"), group_key='{}:{alertname="WeComSilence"}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=5).status_code == 200
    assert wait_for(lambda: any(m.get("msgtype") == "template_card" for m in sent(wecom, "message/send")), 15)
    card = next(m for m in sent(wecom, "message/send") if m["msgtype"] == "template_card")["template_card"]
    silence = next(b["key"] for b in card["button_list"] if b["text"] == "静默 1h")
    now = time.time()
    path, raw = callback(wecom_encrypt(press_event(silence, card["task_id"], now)), now, "e2e-nonce-1")
    answer = httpx.post(relay.url + path, content=raw, timeout=15)
    assert answer.status_code == 200 and answer.text == ""
    (made,) = amtool_silences(am, "alertname=WeComSilence")
    assert made["createdBy"] == "zhangsan (WeCom, via relay)"
    assert wait_for(lambda: sent(wecom, "message/update_template_card"), 10)
    (update,) = sent(wecom, "message/update_template_card")
    assert update["response_code"] == "rc-1" and update["button"]["replace_name"].startswith(
        "🔕 张三 静默至 "
    )
    # The same request again: the nonce was used; nothing more.
    assert httpx.post(relay.url + path, content=raw, timeout=15).status_code == 401
    assert len(amtool_silences(am, "alertname=WeComSilence")) == 1
