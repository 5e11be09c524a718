"""DingTalk custom robot with respx: outcomes by errcode, the 加签 signature checked by an
independent implementation, mentions, injection, splitting at 20,000 bytes (properties
with multi-byte text), the robot's keywords, and the config's checks."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.channels.base import Message, Notifier, NotifierContext
from relay.channels.dingtalk import (
    BODY_LIMIT,
    DINGTALK_API_URL,
    DingTalkConfig,
    DingTalkNotifier,
    dingtalk_escape,
)
from relay.config import Config
from relay.core.alerts import Alert, Notification
from relay.core.clock import FakeClock
from relay.core.errors import ConfigError, PermanentError, RetryableError
from relay.core.rates import Rate
from tests.helpers.dingtalk import independent_sign

TOKEN = "b1d6c4c9e0f24c4aa1f0dd1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e"
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
OK = {"errcode": 0, "errmsg": "ok"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "channels.md"


def robot_yaml(locale: str = "en", **fields: Any) -> str:
    entry = {"access_token": TOKEN, **fields}
    return f"""
    global: {{locale: {locale}}}
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        dingtalk_configs: [{json.dumps(entry, ensure_ascii=False)}]
    """


@pytest.fixture
def robot(respx_mock: respx.MockRouter) -> respx.Route:
    return respx_mock.post(DINGTALK_API_URL, params={"access_token": TOKEN})


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def text_of(body: dict[str, Any]) -> str:
    part = body[body["msgtype"]]
    return str(part.get("text") if body["msgtype"] == "markdown" else part["content"])


def signed_notifier(
    config_for: Callable[..., Config],
    ctx_for: Callable[[Config], NotifierContext],
    clock: FakeClock,
    **fields: Any,
) -> DingTalkNotifier:
    config = config_for(robot_yaml(secret=SECRET, **fields))
    [(_, entry)] = config.receivers[0].integrations()
    assert isinstance(entry, DingTalkConfig)
    return DingTalkNotifier(entry, ctx_for(config), now=clock.now)


# -- outcomes ---------------------------------------------------------------------------

SECURITY_WORDS = {
    "sign": "sign not match, more: [connId=1]",
    "keyword": "keywords not in content, more: [connId=2]",
    "ip": "ip 203.0.113.7 not in whitelist, more: [connId=3]",
}


@pytest.mark.parametrize(
    ("answer", "outcome", "reason", "hint"),
    [
        (httpx.Response(200, json=OK), None, None, None),
        (
            httpx.Response(
                200, json={"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
            ),
            RetryableError,
            "errcode_130101",
            None,
        ),
        (
            httpx.Response(200, json={"errcode": 310000, "errmsg": SECURITY_WORDS["sign"]}),
            PermanentError,
            "errcode_310000",
            "加签: check secret",
        ),
        (
            httpx.Response(200, json={"errcode": 310000, "errmsg": SECURITY_WORDS["keyword"]}),
            PermanentError,
            "errcode_310000",
            "关键词",
        ),
        (
            httpx.Response(200, json={"errcode": 310000, "errmsg": SECURITY_WORDS["ip"]}),
            PermanentError,
            "errcode_310000",
            "IP 地址",
        ),
        (
            httpx.Response(200, json={"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"}),
            PermanentError,
            "errcode_460101",
            "20,000",
        ),
        (
            httpx.Response(200, json={"errcode": 101002, "errmsg": "message too long"}),
            PermanentError,
            "errcode_101002",
            "20,000",
        ),
        (
            httpx.Response(200, json={"errcode": 300001, "errmsg": "token is not exist"}),
            PermanentError,
            "errcode_300001",
            None,
        ),
        (
            httpx.Response(200, json={"errcode": 400102, "errmsg": "robot stopped"}),
            PermanentError,
            "errcode_400102",
            None,
        ),
        (httpx.Response(200, json={"errcode": "x", "errmsg": "?"}), RetryableError, "bad_response", None),
        (httpx.Response(200, json={"errmsg": "ok"}), RetryableError, "bad_response", None),
        (httpx.Response(200, text="<html>gateway</html>"), RetryableError, "bad_response", None),
        (httpx.Response(429, text="slow", headers={"Retry-After": "7"}), RetryableError, "http_429", None),
        (httpx.Response(503, text="unavailable"), RetryableError, "http_503", None),
        (httpx.Response(404, text="not found"), PermanentError, "http_404", None),
        (httpx.ReadTimeout("timed out"), RetryableError, "timeout", None),
        (httpx.ConnectError("[Errno 111] Connection refused"), RetryableError, "connect", None),
    ],
    ids=[
        "0",
        "130101",
        "310000-sign",
        "310000-keyword",
        "310000-ip",
        "460101",
        "101002",
        "300001",
        "400102",
        "errcode-not-a-number",
        "no-errcode",
        "html",
        "429",
        "503",
        "404",
        "timeout",
        "connect",
    ],
)
async def test_outcome_table(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Any,
    outcome: type[Exception] | None,
    reason: str | None,
    hint: str | None,
) -> None:
    robot.mock(side_effect=answer) if isinstance(answer, Exception) else robot.mock(return_value=answer)
    notifier = notifier_for(robot_yaml())
    if outcome is None:
        delivery = await notifier.send(make_message())
        assert robot.call_count == 1 and len(delivery.sent) == 1
        return
    with pytest.raises(outcome) as caught:
        await notifier.send(make_message())
    error = caught.value
    assert getattr(error, "reason", None) == reason
    if reason and reason.startswith("errcode_"):
        assert answer.json()["errmsg"] in str(error)  # DingTalk's own words
    if hint is not None:
        assert hint in str(error)
    if reason == "errcode_130101":
        # Past 20 a minute DingTalk blocks the robot for 10 minutes: the whole robot waits.
        assert isinstance(error, RetryableError) and error.throttled
        assert error.retry_after == 600
    if reason == "http_429":
        assert isinstance(error, RetryableError) and error.retry_after == 7


def test_the_docs_error_table_is_what_relay_does() -> None:
    """Each errcode row of the DingTalk section of docs/channels.md against the code."""
    from relay.channels.dingtalk import dingtalk_check
    from relay.channels.http import Answer

    section = DOCS.read_text(encoding="utf-8").split("## DingTalk custom robot")[1]
    section = section.split("\n## ")[0]
    rows = re.findall(r"^\| `errcode` ([\d /]+?) \([^|]*\| ([^|]+) \| `([\w<>]+)`", section, re.M)
    assert len(rows) >= 4, rows
    for codes, outcome, reason in rows:
        for code in map(int, codes.split(" / ")):
            found = dingtalk_check(Answer(200, httpx.Headers(), "", {"errcode": code, "errmsg": "x"}))
            expected = RetryableError if outcome.startswith("retry") else PermanentError
            if code == 0:
                assert found is None
                continue
            assert isinstance(found, expected), (code, outcome)
            assert found.reason == reason.replace("<n>", str(code))


# -- the signature --------------------------------------------------------------------


def test_signature_known_answer() -> None:
    from relay.channels.dingtalk import signature

    # Computed with: printf '%s\n%s' 1700000000000 "$SECRET" | openssl dgst -sha256
    #   -hmac "$SECRET" -binary | openssl base64 -A
    expected = "8SZas7RY4E7wuOlgLfjLwHSKZpyUEdXdLvFYSDZiiFw%3D"
    assert signature(SECRET, 1700000000000) == expected
    assert independent_sign(SECRET, "1700000000000") == expected


async def test_every_request_is_signed_afresh(
    robot: respx.Route,
    config_for: Callable[..., Config],
    ctx_for: Callable[[Config], NotifierContext],
    make_message: Callable[..., Message],
) -> None:
    robot.respond(json=OK)
    clock = FakeClock(1_800_000_000.123)
    notifier = signed_notifier(config_for, ctx_for, clock)
    await notifier.send(make_message(job_id="a" * 32))
    clock.advance(61.5)
    await notifier.send(make_message(job_id="b" * 32))

    stamps = []
    for call in robot.calls:
        raw_query = urlsplit(str(call.request.url)).query
        query = parse_qs(raw_query)
        assert query["access_token"] == [TOKEN]
        [stamp], [sign] = query["timestamp"], query["sign"]
        raw_sign = re.search(r"(?:^|&)sign=([^&]*)", raw_query)
        assert raw_sign is not None and raw_sign[1] == independent_sign(SECRET, stamp)
        stamps.append(int(stamp))
        assert sign  # decoded form is the Base64 itself
        assert base64.b64decode(sign) and len(base64.b64decode(sign)) == 32
    assert stamps == [1_800_000_000_123, 1_800_000_061_623]  # milliseconds, fresh each time


async def test_webhook_url_and_access_token_reach_the_same_robot(
    robot: respx.Route,
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    robot.respond(json=OK)
    by_token = notifier_for(robot_yaml())
    by_url = notifier_for(
        robot_yaml(access_token=None, webhook_url=f"{DINGTALK_API_URL}?access_token={TOKEN}")
    )
    await by_token.send(make_message())
    await by_url.send(make_message())
    assert robot.call_count == 2
    assert by_token.rate_limit_key == by_url.rate_limit_key
    assert TOKEN not in str(by_token.rate_limit_key)
    proxy = respx_mock.post("http://127.0.0.1:9/dingtalk/send", params={"access_token": TOKEN})
    proxy.respond(json=OK)
    await notifier_for(robot_yaml(api_url="http://127.0.0.1:9/dingtalk/send")).send(make_message())
    assert proxy.call_count == 1


def test_rate_is_20_a_minute_and_going_over_blocks_10_minutes(
    notifier_for: Callable[..., Notifier],
) -> None:
    notifier = notifier_for(robot_yaml())
    assert notifier.rate_limits == (Rate(20, 60.0),)
    assert notifier.throttle_block == 600
    assert notifier_for(robot_yaml(rate_limit_per_minute=10)).rate_limits == (Rate(10, 60.0),)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "set exactly one of webhook_url or access_token"),
        (
            {"access_token": TOKEN, "webhook_url": f"{DINGTALK_API_URL}?access_token={TOKEN}"},
            "set exactly one of webhook_url or access_token",
        ),
        (
            {"access_token": f"{DINGTALK_API_URL}?access_token={TOKEN}"},
            "is a URL: set the value after access_token= (64 characters)",
        ),
        ({"webhook_url": "oapi.dingtalk.com/robot/send"}, "must be a full URL"),
        ({"webhook_url": DINGTALK_API_URL}, "has no access_token="),
        ({"access_token": TOKEN, "api_url": f"{DINGTALK_API_URL}?x=1"}, "without a query"),
        ({"access_token": TOKEN, "rate_limit_per_minute": 30}, "less than or equal to 20"),
        ({"access_token": TOKEN, "msgtype": "actionCard"}, "'markdown' or 'text'"),
        ({"access_token": TOKEN, "secret": ""}, "is empty"),
    ],
)
def test_config_problems_are_named(
    config_for: Callable[..., Config],
    fields: dict[str, Any],
    problem: str,
) -> None:
    entry = json.dumps(fields)
    with pytest.raises(ConfigError) as caught:
        config_for(f"""
        route: {{receiver: oncall}}
        receivers: [{{name: oncall, dingtalk_configs: [{entry}]}}]
        """)
    text = str(caught.value)
    assert "receivers[0].dingtalk_configs[0]" in text and problem in text, text
    assert TOKEN not in text  # a secret is described, never echoed


def test_secrets_from_files_and_in_config_secrets(
    config_for: Callable[..., Config],
    tmp_path: Path,
) -> None:
    (tmp_path / "url").write_text(f"{DINGTALK_API_URL}?access_token={TOKEN}\n")
    (tmp_path / "secret").write_text(SECRET + "\n")
    config = config_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        dingtalk_configs: [{{webhook_url_file: {tmp_path / "url"},
                             secret_file: {tmp_path / "secret"}}}]
    """)
    entry = config.receivers[0].dingtalk_configs[0]
    assert entry.secret.get_secret_value() == SECRET
    assert {TOKEN, SECRET} <= set(config.secrets())  # the token alone, not only the URL


# -- messages, mentions and injection --------------------------------------------------


async def test_markdown_is_the_default_with_a_title(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    robot.respond(json=OK)
    await notifier_for(robot_yaml()).send(make_message())
    [body] = bodies(robot)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "🔥 [FIRING:2] DiskFull"
    assert body["markdown"]["text"].startswith("### 🔥 [FIRING:2] DiskFull\n")
    assert "at" not in body
    assert robot.calls[0].request.headers["Content-Type"].startswith("application/json")


async def test_text_msgtype(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    robot.respond(json=OK)
    await notifier_for(robot_yaml(locale="zh-CN", msgtype="text")).send(make_message())
    [body] = bodies(robot)
    assert body["msgtype"] == "text"
    assert body["text"]["content"].startswith("【告警】DiskFull：告警中 2 条")


def owned(make_alert: Callable[..., Alert], owner: str, status: str = "firing") -> Alert:
    alert = make_alert("Owned", status)
    return alert.model_copy(update={"labels": {**alert.labels, "owner": owner}})


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_mentions_from_config_and_labels_are_in_at_and_in_the_text(
    notifier_for: Callable[..., Notifier],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    make_message: Callable[..., Message],
    msgtype: str,
) -> None:
    notifier = notifier_for(
        robot_yaml(
            msgtype=msgtype, at_mobiles=["13800000000"], at_user_ids=["manager7"], mention_label="owner"
        )
    )
    assert isinstance(notifier, DingTalkNotifier)
    n = make_notification(
        alerts=[owned(make_alert, "13900000001, zhangsan; all @all"), owned(make_alert, "13800000000")]
    )
    [body] = notifier.render_parts(make_message(n))
    assert body["at"] == {"atMobiles": ["13800000000", "13900000001"], "atUserIds": ["manager7", "zhangsan"]}
    # DingTalk pings a markdown mention only where "@<mobile>" is written in the text.
    assert text_of(body).endswith("\n\n@13800000000 @13900000001 @manager7 @zhangsan")


def test_everyone_only_from_config_and_only_while_firing(
    notifier_for: Callable[..., Notifier],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    make_message: Callable[..., Message],
) -> None:
    notifier = notifier_for(robot_yaml(at_all=True, at_mobiles=["13800000000"], mention_label="owner"))
    assert isinstance(notifier, DingTalkNotifier)
    [firing] = notifier.render_parts(make_message(make_notification()))
    assert firing["at"] == {"atMobiles": ["13800000000"], "isAtAll": True}
    resolved = make_notification(status="resolved", alerts=[owned(make_alert, "13900000001", "resolved")])
    [body] = notifier.render_parts(make_message(resolved))
    assert "at" not in body and "@139" not in text_of(body) and "@138" not in text_of(body)
    # Only the firing alerts' owners are woken.
    mixed = make_notification(
        alerts=[owned(make_alert, "13900000001", "resolved"), owned(make_alert, "13700000002")]
    )
    [body] = notifier.render_parts(make_message(mixed))
    assert body["at"]["atMobiles"] == ["13800000000", "13700000002"]


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_labels_cannot_format_link_or_mention(
    notifier_for: Callable[..., Notifier],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    make_message: Callable[..., Message],
    msgtype: str,
    locale: str,
) -> None:
    evil = "@all @13800000000 **bold** [click](http://evil.example) <font color=red>x</font>"
    alert = make_alert("Evil")
    alert = alert.model_copy(
        update={
            "labels": {
                **alert.labels,
                "alertname": f"Evil {evil}",
                "note": evil,
                "owner": "@all all <at> **x** [y](z)",
            },
            "annotations": {"summary": f"line one\n### {evil}", "runbook_url": "http://runbooks.local/a (b)"},
        }
    )
    notifier = notifier_for(robot_yaml(locale=locale, msgtype=msgtype, mention_label="owner"))
    assert isinstance(notifier, DingTalkNotifier)
    [body] = notifier.render_parts(make_message(make_notification(alerts=[alert])))
    text = text_of(body)
    assert "at" not in body  # nobody from "@all", a tag or markup
    assert "@" not in text and "＠all" in text and "＠13800000000" in text
    if msgtype == "markdown":
        for raw in ("*bold", "[click", "<font", "](http://evil"):  # each unescaped
            assert not re.search(r"(?<!\\)" + re.escape(raw), text), raw
        assert "\n### " not in text[3:]  # a summary cannot start a heading
        assert r"\*\*bold\*\*" in text and r"\[click\]" in text and r"\<font" in text
        assert "(http://runbooks.local/a%20%28b%29)" in text  # the link stays one link


def test_escape_filter() -> None:
    assert dingtalk_escape("a_b*c`d[e]f<g>h~i|j\\k") == r"a\_b\*c\`d\[e\]f\<g\>h\~i\|j\\k"
    assert dingtalk_escape("x\ny @z") == "x y ＠z"
    assert dingtalk_escape("x\ny @z", "text") == "x\ny ＠z"
    assert dingtalk_escape(None) == ""


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
@pytest.mark.parametrize(("locale", "keywords"), [("en", ("FIRING", "RESOLVED")), ("zh-CN", ("告警",))])
def test_every_part_has_a_robot_keyword(
    notifier_for: Callable[..., Notifier],
    make_notification: Callable[..., Notification],
    make_message: Callable[..., Message],
    msgtype: str,
    locale: str,
    keywords: tuple[str, ...],
) -> None:
    """docs/channels.md names these keywords for a robot with 关键词 security."""
    notifier = notifier_for(robot_yaml(locale=locale, msgtype=msgtype))
    assert isinstance(notifier, DingTalkNotifier)
    for status in ("firing", "resolved"):
        n = make_notification(count=40, status=status, common_annotations={})
        n = n.model_copy(
            update={
                "alerts": [a.model_copy(update={"annotations": {"summary": "磁盘" * 300}}) for a in n.alerts]
            }
        )
        parts = notifier.render_parts(make_message(n))
        assert len(parts) > 1
        for body in parts:
            assert any(k in text_of(body) for k in keywords), text_of(body)[:80]


# -- splitting --------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.sampled_from('a磁盘告警🔥é_*@ \n"\\<>'), max_size=3000)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    summaries=st.lists(_TEXT, min_size=1, max_size=40),
    truncated=st.integers(0, 3),
    msgtype=st.sampled_from(["markdown", "text"]),
    mention=st.booleans(),
)
def test_split_property(
    notifier_for: Callable[..., Notifier],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    make_message: Callable[..., Message],
    summaries: list[str],
    truncated: int,
    msgtype: str,
    mention: bool,
) -> None:
    """Every body within 20,000 UTF-8 bytes as posted (valid JSON), every alert exactly once
    and in order, parts numbered (i/n), the mentions on the first part only."""
    extra = {"at_mobiles": ["13800000000"], "at_user_ids": ["u" * 60]} if mention else {}
    notifier = notifier_for(robot_yaml(msgtype=msgtype, **extra))
    assert isinstance(notifier, DingTalkNotifier)
    alerts = [make_alert(f"Alert{i}", summary=f"Q{i:03d}Q {s}") for i, s in enumerate(summaries)]
    n = make_notification(alerts=alerts, truncated_alerts=truncated)
    parts = notifier.render_parts(make_message(n))
    seen: list[str] = []
    for i, body in enumerate(parts, 1):
        posted = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(posted) <= BODY_LIMIT
        assert json.loads(posted) == body
        text = text_of(body)
        seen += re.findall(r"Q\d{3}Q", text)
        if len(parts) > 1:
            assert f"({i}/{len(parts)})" in text.splitlines()[0]
        assert ("at" in body) == (mention and i == 1)
    assert seen == [f"Q{i:03d}Q" for i in range(len(summaries))]


async def test_parts_resume_after_a_failed_part(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_notification: Callable[..., Notification],
    make_message: Callable[..., Message],
) -> None:
    robot.mock(
        side_effect=[
            httpx.Response(200, json=OK),
            httpx.Response(200, json={"errcode": 130101, "errmsg": "too fast"}),
            httpx.Response(200, json=OK),
            httpx.Response(200, json=OK),
        ]
    )
    notifier = notifier_for(robot_yaml())
    n = make_notification(count=10)
    n = n.model_copy(
        update={"alerts": [a.model_copy(update={"annotations": {"summary": "字" * 1500}}) for a in n.alerts]}
    )
    message = make_message(n)
    assert notifier.messages_for(message) == 3
    with pytest.raises(RetryableError) as caught:
        await notifier.send(message)
    assert caught.value.message.startswith("part 2/3 (part 1 delivered, a retry resumes here)")
    delivery = await notifier.send(message)
    assert robot.call_count == 4 and len(delivery.sent) == 2
    marks = [text_of(b).splitlines()[0][-5:] for b in bodies(robot)]
    assert marks == ["(1/3)", "(2/3)", "(2/3)", "(3/3)"]
