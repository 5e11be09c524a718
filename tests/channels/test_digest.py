"""Digest rendering per channel: en and zh-CN, split to the channel's limit on group
boundaries with every group exactly once, and the hold digest the intervals side builds."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relay.channels.base import Notifier
from relay.channels.telegram import visible_length
from relay.core.alerts import Alert, Notification
from relay.core.digests import Digest, DigestEntry
from relay.pipeline.hold import hold_digest_jobs
from relay.templating.split import nbytes

STARTS = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def wecom_text(body: dict[str, Any]) -> str:
    return str(body[body["msgtype"]]["content"])


def slack_text(body: dict[str, Any]) -> str:
    return "".join(b["text"]["text"] for b in body["attachments"][0]["blocks"])


def webhook_text(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


def dingtalk_text(body: dict[str, Any]) -> str:
    return str(body["markdown"]["text"] if body["msgtype"] == "markdown" else body["text"]["content"])


def teams_text(body: dict[str, Any]) -> str:
    return "\n".join(b["text"] for b in body["attachments"][0]["content"]["body"])


def feishu_card_text(body: dict[str, Any]) -> str:
    card = body["card"]
    return f"{card['header']['title']['content']}\n{card['elements'][0]['text']['content']}"


def feishu_text(body: dict[str, Any]) -> str:
    return str(body["content"]["text"])


def telegram_text(body: dict[str, Any]) -> str:
    return str(body["text"])


def json_bytes(body: dict[str, Any]) -> int:
    return nbytes(json.dumps(body, ensure_ascii=False, separators=(",", ":")))


@dataclass(frozen=True)
class Kind:
    kind: str
    settings: str  # the config entry's keys, YAML flow style
    text: Callable[[Any], str]  # the text of one body
    limit: int | None  # the vendor's limit per body, in `measure` units
    measure: Callable[[str], int] = nbytes
    whole: Callable[[Any], int] | None = None  # measures the whole body instead of its text


#: Every channel with digests. A new channel adds its line here.
DIGEST_CHANNELS = [
    Kind("log", "{}", str, None),
    Kind("email", "{to: [ops@example.com], from: relay@example.com, smarthost: 'mx:25'}", str, None),
    Kind("slack", "{api_url: 'https://hooks.slack.com/services/T/B/x'}", slack_text, 3000, len),
    Kind("wecom", "{key: k}", wecom_text, 4096),
    Kind("wecom", "{key: k, msgtype: text}", wecom_text, 2048),
    Kind("wecom_app", "{corp_id: c, agent_id: 1, api_secret: s}", wecom_text, 4096),
    Kind("webhook", "{url: 'https://hooks.example.com/x'}", webhook_text, None),
    Kind("dingtalk", "{access_token: t}", dingtalk_text, 20000, whole=json_bytes),
    Kind("dingtalk", "{access_token: t, msgtype: text}", dingtalk_text, 20000, whole=json_bytes),
    Kind(
        "msteams",
        "{webhook_url: 'https://prod-00.westus.logic.azure.com/workflows/0/triggers/"
        "manual/paths/invoke?sig=s'}",
        teams_text,
        28000,
        whole=json_bytes,
    ),
    Kind(
        "feishu",
        "{webhook_url: 'https://open.feishu.cn/open-apis/bot/v2/hook/x'}",
        feishu_card_text,
        20000,
        whole=json_bytes,
    ),
    Kind(
        "feishu",
        "{webhook_url: 'https://open.feishu.cn/open-apis/bot/v2/hook/x', msgtype: text}",
        feishu_text,
        20000,
        whole=json_bytes,
    ),
    Kind(
        "telegram",
        "{bot_token: '123456789:abcdefabcdefabcdefabcdefabcdefabcde', chat_id: -100123}",
        telegram_text,
        4096,
        visible_length,
    ),
]


def config(kind: Kind, locale: str) -> str:
    return f"""
global: {{locale: {locale}}}
route: {{receiver: oncall}}
receivers:
  - name: oncall
    {kind.kind}_configs:
      - {kind.settings}
"""


def notification(group: int, alerts: int, summary: str = "") -> Notification:
    items = [
        Alert.model_validate(
            {
                "status": "resolved" if n == alerts - 1 and alerts > 1 else "firing",
                "labels": {"alertname": "LinkDown", "group": f"g{group}", "n": str(n)},
                "annotations": {"summary": summary or f"link {group}/{n} is down"},
                "startsAt": STARTS.isoformat(),
                "endsAt": (STARTS + timedelta(minutes=5)).isoformat()
                if n == alerts - 1 and alerts > 1
                else "0001-01-01T00:00:00Z",
            }
        )
        for n in range(alerts)
    ]
    return Notification(
        receiver="oncall",
        group_key=f'{{}}:{{group="g{group}"}}',
        status="firing",
        alerts=items,
        group_labels={"alertname": "LinkDown", "group": f"g{group}"},
        external_url="http://alertmanager:9093",
    )


def digest_of(groups: int, alerts: int = 4, summary: str = "") -> Digest:
    items = [(f"job{g}", f"key{g}", notification(g, alerts, summary)) for g in range(groups)]
    return Digest.of_notifications("storm", "oncall", "oncall/x/0", items, STARTS.timestamp())


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("kind", DIGEST_CHANNELS, ids=lambda k: f"{k.kind}-{k.settings[:16]}")
def test_digest_renders_totals_and_every_group(
    kind: Kind, locale: str, notifier_for: Callable[..., Notifier]
) -> None:
    notifier = notifier_for(config(kind, locale))
    assert type(notifier).digest_bodies is not Notifier.digest_bodies  # its own digests
    bodies = notifier.digest_bodies(digest_of(3))
    text = "\n".join(kind.text(b) for b in bodies)
    for group in range(3):
        assert text.count(f"group=g{group}") == 1
    assert "link 0/0 is down" in text
    assert ("告警" if locale == "zh-CN" else "storm") in text
    if kind.kind == "telegram":
        from relay.channels.telegram import entities_problem

        assert not any(entities_problem(b["text"]) for b in bodies)
    assert "9" in text and "3" in text  # 9 firing, 3 resolved


@pytest.mark.parametrize(
    "kind", [k for k in DIGEST_CHANNELS if k.limit is not None], ids=lambda k: f"{k.kind}-{k.settings[:16]}"
)
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_a_big_digest_splits_between_groups_each_once(
    kind: Kind, locale: str, notifier_for: Callable[..., Notifier]
) -> None:
    notifier = notifier_for(config(kind, locale))
    digest = digest_of(300, alerts=20, summary="链路中断 " * 20)  # multi-byte summaries
    bodies = notifier.digest_bodies(digest)
    assert len(bodies) > 1
    assert kind.limit is not None
    seen: list[int] = []
    for index, body in enumerate(bodies, 1):
        text = kind.text(body)
        if kind.whole is not None:
            assert kind.whole(body) <= kind.limit
        elif kind.kind != "slack":
            assert kind.measure(text) <= kind.limit
        else:
            for block in body["attachments"][0]["blocks"]:
                assert len(block["text"]["text"]) <= kind.limit
        assert f"({index}/{len(bodies)})" in text.split("\n")[0]
        seen += [int(g) for g in re.findall(r"group=g(\d+)", text)]
    assert seen == list(range(300))  # every group once, in order
    assert notifier.digest_messages(digest) == len(bodies)


def test_big_digests_quote_one_summary_per_group(notifier_for: Callable[..., Notifier]) -> None:
    notifier = notifier_for(config(DIGEST_CHANNELS[0], "en"))
    small = notifier.digest_bodies(digest_of(3, alerts=5))[0]
    big = notifier.digest_bodies(digest_of(31, alerts=5))[0]
    assert small.count("  - link 0/") == 3 and "… 2 more" in small
    assert big.count("  - link 0/") == 1 and "… 4 more" in big


def test_later_notifications_of_a_group_update_its_entry() -> None:
    first, second = notification(1, 3), notification(1, 3)
    second.alerts[0] = second.alerts[0].model_copy(update={"status": "resolved"})
    extra = notification(1, 1).alerts[0].model_copy(update={"fingerprint": "new"})
    second.alerts.append(extra)
    digest = Digest.of_notifications("storm", "oncall", "i", [("a", "k1", first), ("b", "k1", second)], 0.0)
    [entry] = digest.entries
    assert entry.job_ids == ["a", "b"]
    assert (entry.firing, entry.resolved, entry.count) == (2, 2, 4)
    assert Digest.from_dict(json.loads(json.dumps(digest.to_dict()))) == digest


@dataclass
class Held:
    group_key: str
    display_group_key: str
    group_labels: dict[str, str]
    external_url: str
    alerts: dict[str, dict[str, Any]]


@dataclass
class Window:
    started_at: float
    ended_at: float


def test_hold_digest_jobs_count_what_fired_and_resolved(
    notifier_for: Callable[..., Notifier],
) -> None:
    n = notification(7, 3)
    held = Held(
        "k7", n.group_key, n.group_labels, n.external_url, {a.fingerprint: a.to_v4() for a in n.alerts}
    )
    empty = Held("k8", "x", {}, "", {})
    window = Window(STARTS.timestamp(), STARTS.timestamp() + 8 * 3600)
    [job] = hold_digest_jobs("oncall", "oncall/wecom/0", [held, empty], window, window.ended_at)
    assert job.group_key == f"hold-digest|oncall/wecom/0|{window.ended_at:.0f}"
    digest = Digest.from_dict(job.payload["digest"])
    assert digest.kind == "hold" and digest.window == (window.started_at, window.ended_at)
    assert [(e.firing, e.resolved) for e in digest.entries] == [(2, 1)]
    assert hold_digest_jobs("oncall", "i", [empty], window, 0.0) == []
    text = wecom_text(notifier_for(config(DIGEST_CHANNELS[3], "en")).digest_bodies(digest)[0])
    assert text.startswith('## <font color="warning">Held 11-22 06:00 – 14:00 UTC: 1 group')


def test_entry_silence_url_uses_the_group_labels() -> None:
    entry = DigestEntry.of_alerts(
        "k", "d", {"alertname": "A", "dc": "1"}, notification(1, 1).alerts, external_url="http://am:9093"
    )
    assert entry.silence_url.startswith("http://am:9093/#/silences/new?filter=")
    assert "dc" in entry.silence_url
