"""The Chinese console speaks the on-call engineer's words: durations as the config writes
them, every channel's preview in Chinese, and no jargon for a failed delivery.

The class of defect: numbers and words that came straight from the model (14400.0, a
channel's English note and unit, "死信") into a page a person reads.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from relay.channels import CHANNELS
from relay.web.console.i18n import MESSAGES

CONFIG = """
route: {receiver: ops, repeat_interval: 4h, group_interval: 5m}
receivers: [{name: ops, log_configs: [{}]}]
"""


async def test_the_config_page_writes_durations_as_the_config_does(relay_factory: Any) -> None:
    async with relay_factory(CONFIG) as relay:
        page = (await relay.client.get("/ui/config", params={"lang": "zh-CN"})).text
        assert "repeat_interval: 4h" in page and "group_interval: 5m" in page
        assert "14400" not in page
        # The API keeps seconds: scripts compute with them.
        api = (await relay.client.get("/api/v1/config")).json()["config"]
        assert api["route"]["repeat_interval"] == 14400.0


def test_no_console_text_says_死信() -> None:
    assert not [key for key, (_, zh) in MESSAGES.items() if "死信" in zh]
    assert MESSAGES["status.dead"][1] == "投递失败"


@pytest.mark.parametrize("kind", [c.kind for c in CHANNELS])
async def test_each_channels_preview_is_in_chinese(relay_factory: Any, kind: str) -> None:
    async with relay_factory(CONFIG) as relay:
        # The language is chosen on a GET (and remembered); the form's token comes with it.
        form = (await relay.client.get("/ui/playground", params={"lang": "zh-CN"})).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        page = await relay.client.post(
            "/ui/playground",
            data={
                "csrf": csrf.group(1),
                "target": f"channel:{kind}",
                "locale": "zh-CN",
                "source": "sample",
                "message": "notification",
            },
        )
        assert page.status_code == 200, page.text[page.text.find("<main") :][:600]
        result = page.text[page.text.index('id="result"') :]
        captions = re.findall(r"<figcaption>(.*?)</figcaption>", result, re.S)
        assert captions, result[:800]
        for caption in captions:
            words = re.sub(r"<[^>]+>", " ", caption)
            assert "部分" in words
            # Sizes and units in Chinese: no English word left in the caption.
            assert not re.search(r"[A-Za-z]{3,}", words.replace("JSON", "")), (kind, words)


# Every kind of config warning relay writes (a sentence each), in one file.
EVERY_WARNING = """
route:
  receiver: ops
  routes:
    - {receiver: ops, group_by: [instance]}
actions: {}
people: [{name: alex, phone: "+14155550101"}]
receivers:
  - name: ops
    webhook_configs:
      - url: "http://127.0.0.1:9/hook/$HOOK_PART"
      - url: "https://oapi.dingtalk.com/robot/send?access_token=abc"
    feishu_configs:
      - webhook_url: "https://feishu-proxy.internal/hook"
    msteams_configs:
      - webhook_url: "https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi"
    slack_configs:
      - {api_url: "https://hooks.slack.com/services/T0/B0/x", channel: "#ops"}
  - name: phones
    twilio_configs:
      - {account_sid: AC00000000000000000000000000000000, auth_token: t0ken, from: "+15005550006"}
"""
WARNING_KINDS = (
    "is sent as written",
    "relay groups these alerts again",
    "no Acknowledge / Silence links",
    "calls nobody",
    "pressing 1",
    "not a Feishu or Lark bot hook",
    "Office 365 connector",
    "ignored with an incoming webhook",
    "refuses the webhook channel's Alertmanager JSON",
)


def test_every_config_warning_is_written_in_chinese_too() -> None:
    from relay.config import parse_config
    from relay.core.said import Said

    warnings = parse_config(EVERY_WARNING, env={}).warnings
    for kind in WARNING_KINDS:  # the file shows every kind, so none is left untranslated
        assert [w for w in warnings if kind in w], (kind, warnings)
    for warning in warnings:
        assert isinstance(warning, Said), warning
        place = warning.split(": ", 1)[0]
        assert warning.zh.startswith(f"{place}：") and re.search(r"[\u4e00-\u9fff]", warning.zh), warning.zh
    dingtalk = next(w for w in warnings if "Alertmanager JSON" in w)
    assert "钉钉机器人地址" in dingtalk.zh


async def test_the_chinese_overview_shows_config_warnings_in_chinese(relay_factory: Any) -> None:
    async with relay_factory(EVERY_WARNING) as relay:
        zh = html.unescape((await relay.client.get("/ui/", params={"lang": "zh-CN"})).text)
        en = html.unescape((await relay.client.get("/ui/", params={"lang": "en"})).text)
    assert "配置可用，但可能与本意不符" in zh
    for kind in WARNING_KINDS:
        assert kind in en and kind not in zh, kind
    assert "不会呼叫任何人" in zh and "只让一方分组" in zh
