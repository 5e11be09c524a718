"""An escalation step's message pages its people natively on every channel: WeCom
<@userid> (robot) and touser (application), DingTalk at.atMobiles with "@mobile" in the
text, Feishu <at id>, Slack <@U…>, Telegram a tg://user link, Teams a mention entity,
email the person's address in To, a webhook relay.targets; and every message says
which step it is and names everyone (also those without an address there)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import httpx

from relay.channels import make_renderer
from relay.channels.base import MemoryRefs, Message
from relay.config import parse_config
from relay.core.alerts import Alert, EscalatedTo, Escalation, Notification
from relay.pipeline.runtime import notifier_context

CONFIG = """
global: {locale: en}
route: {receiver: ops}
receivers:
  - name: ops
    wecom_configs: [{key: wecomrobotkey0123456789}]
    wecom_app_configs: [{corp_id: ww0123456789, agent_id: 1000002, api_secret: s3cr3t-app, to_user: ops}]
    dingtalk_configs: [{access_token: dingtalktoken0123456789}]
    feishu_configs: [{webhook_url: "https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef"}]
    slack_configs: [{api_url: "https://hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX"}]
    telegram_configs: [{bot_token: "123456:ABCdefGhIJKlmNoPQRsTUVwxyZ0123456789", chat_id: -100123}]
    msteams_configs: [{webhook_url: "https://prod-00.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=x"}]
    email_configs: [{to: ops@example.com, from: relay@example.com, smarthost: "127.0.0.1:25"}]
    webhook_configs: [{url: "http://127.0.0.1:9/hook"}]
    log_configs: [{}]
people:
  - name: zhangsan
    display_name: 张三
    email: zhangsan@example.com
    ids:
      wecom: ZhangSan
      dingtalk: "13800000001"
      feishu: ou_7d8a6e6df7621556ce0d21922b676706cc
      slack: U012AB3CD
      telegram: "123456789"
      msteams: 29:1a2b3c
  - {name: lisi, display_name: 李四}
"""


def step(status: str = "firing") -> Notification:
    alert = Alert.model_validate(
        {
            "status": status,
            "labels": {"alertname": "DiskFull", "severity": "critical"},
            "annotations": {"summary": "disk full"},
            "startsAt": "2026-11-22T06:25:51Z",
        }
    )
    return Notification(
        receiver="ops",
        group_key="g",
        status=status,  # type: ignore[arg-type]
        alerts=[alert],
        reason="escalation",
        escalation=Escalation(
            policy="sre",
            step=2,
            steps=3,
            targets=[
                EscalatedTo(target="schedule:sre", people=["zhangsan"]),
                EscalatedTo(target="person:lisi", people=["lisi"]),
                EscalatedTo(target="schedule:night", people=[]),
            ],
            names={"zhangsan": "张三", "lisi": "李四"},
        ),
    )


async def rendered(notification: Notification) -> dict[str, Any]:
    config = parse_config(CONFIG)
    async with httpx.AsyncClient() as http:
        ctx = notifier_context(config, http=http, renderer=make_renderer(config), refs=MemoryRefs())
        found: dict[str, Any] = {}
        for integration, entry in config.receivers[0].integrations():
            notifier: Any = entry.build(ctx)
            message = Message(job_id="0" * 32, notification=notification, integration=integration)
            kind = integration.split("/")[1]
            if kind == "email":
                found[kind] = notifier.compose(message)
                found["email_paged"] = notifier.paged(notification)
            elif kind == "slack":
                found[kind] = notifier.render_posts(message)
            elif kind == "webhook":
                found[kind] = notifier.payload(message, notification)
            elif kind == "log":
                found[kind] = ctx.renderer.render("log.txt", notification, locale="en")
            else:
                found[kind] = notifier.render_parts(message)
        return found


LINE = "Escalation step 2 of 3 (policy sre): 张三, 李四 · nobody on call for schedule:night"


async def test_each_channel_pages_the_step_natively_and_names_everyone() -> None:
    sent = await rendered(step())
    wecom = sent["wecom"][0]["markdown"]["content"]
    assert "<@ZhangSan>" in wecom and LINE in wecom
    assert sent["wecom_app"][0]["touser"] == "ops|ZhangSan"
    ding = sent["dingtalk"][0]
    assert ding["at"]["atMobiles"] == ["13800000001"] and "@13800000001" in ding["markdown"]["text"]
    assert LINE in ding["markdown"]["text"]
    feishu = json.dumps(sent["feishu"][0], ensure_ascii=False)
    assert "<at id=ou_7d8a6e6df7621556ce0d21922b676706cc></at>" in feishu and "张三, 李四" in feishu
    slack = json.dumps(sent["slack"][0]["attachments"][0]["blocks"], ensure_ascii=False)
    assert "<@U012AB3CD>" in slack and LINE in slack
    assert sent["slack"][0]["text"].endswith(" <@U012AB3CD>")  # the push notification
    telegram = sent["telegram"][0]["text"]
    assert '<a href="tg://user?id=123456789">张三</a>' in telegram and LINE in telegram
    card = sent["msteams"][0]["attachments"][0]["content"]
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>张三</at>", "mentioned": {"id": "29:1a2b3c", "name": "张三"}}
    ]
    assert "<at>张三</at>" in json.dumps(card["body"], ensure_ascii=False)
    mail: EmailMessage = sent["email"]
    assert mail["To"] == "ops@example.com, zhangsan@example.com"
    assert sent["email_paged"] == ["zhangsan@example.com"]
    assert LINE in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert sent["webhook"]["relay"]["targets"][0] == {
        "target": "schedule:sre",
        "people": [{"name": "zhangsan", "display_name": "张三"}],
    }
    assert LINE in sent["log"]


async def test_a_resolved_message_pages_nobody() -> None:
    sent = await rendered(step("resolved"))
    assert "<@ZhangSan>" not in sent["wecom"][0]["markdown"]["content"]
    assert sent["wecom_app"][0]["touser"] == "ops"
    assert "at" not in sent["dingtalk"][0]
    assert "<@U012AB3CD>" not in json.dumps(sent["slack"][0])
    assert "tg://user" not in sent["telegram"][0]["text"]
    assert "entities" not in sent["msteams"][0]["attachments"][0]["content"]["msteams"]
    assert sent["email_paged"] == []


async def test_the_line_speaks_chinese_in_zh_cn() -> None:
    config = parse_config(CONFIG.replace("locale: en", "locale: zh-CN"))
    renderer = make_renderer(config)
    text = renderer.render("wecom.text", step(), locale="zh-CN")
    assert "⏫ 升级第 2/3 步，策略 sre：张三、李四 · schedule:night 当前无人值班" in text
