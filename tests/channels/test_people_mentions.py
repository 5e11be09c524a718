"""A mention_label value that names someone in people: mentions them by their address on
each robot: WeCom's mentioned_list (and <@userid> in markdown), DingTalk's at.atMobiles
with "@mobile" in the text, Feishu's <at user_id>; a value that is no person's name is
used as it is, as before."""

from __future__ import annotations

import json
from typing import Any

import httpx

from relay.channels import make_renderer
from relay.channels.base import MemoryRefs, Message
from relay.config import parse_config
from relay.core.alerts import Alert, Notification
from relay.pipeline.runtime import notifier_context

CONFIG = """
route: {receiver: ops}
receivers:
  - name: ops
    wecom_configs: [{key: wecomrobotkey0123456789, msgtype: text, mention_label: oncall}]
    dingtalk_configs: [{access_token: dingtalktoken0123456789, mention_label: oncall}]
    feishu_configs:
      - {webhook_url: "https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef", mention_label: oncall}
people:
  - name: zhangsan
    ids: {wecom: ZhangSan, dingtalk: "13800000001", feishu: ou_7d8a6e6df7621556ce0d21922b676706cc}
"""


def storm(oncall: str) -> Notification:
    alert = Alert.model_validate(
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "oncall": oncall},
            "annotations": {},
            "startsAt": "2026-11-22T06:25:51Z",
        }
    )
    return Notification(receiver="ops", group_key="g", status="firing", alerts=[alert])


async def bodies(oncall: str) -> dict[str, Any]:
    config = parse_config(CONFIG)
    async with httpx.AsyncClient() as http:
        ctx = notifier_context(config, http=http, renderer=make_renderer(config), refs=MemoryRefs())
        found = {}
        for integration, entry in config.receivers[0].integrations():
            notifier = entry.build(ctx)
            message = Message(job_id="0" * 32, notification=storm(oncall), integration=integration)
            found[integration.split("/")[1]] = notifier.render_parts(message)[0]  # type: ignore[attr-defined]
        return found


async def test_a_person_named_by_the_label_is_mentioned_natively() -> None:
    sent = await bodies("zhangsan")
    assert sent["wecom"]["text"]["mentioned_list"] == ["ZhangSan"]
    assert sent["dingtalk"]["at"]["atMobiles"] == ["13800000001"]
    assert "@13800000001" in sent["dingtalk"]["markdown"]["text"]
    assert "<at id=ou_7d8a6e6df7621556ce0d21922b676706cc></at>" in json.dumps(
        sent["feishu"], ensure_ascii=False
    )


async def test_a_value_that_is_no_person_is_used_as_it_is() -> None:
    sent = await bodies("LiSi")
    assert sent["wecom"]["text"]["mentioned_list"] == ["LiSi"]
    assert sent["dingtalk"]["at"]["atUserIds"] == ["LiSi"]
