"""WeCom with respx: the group robot (errcodes, msgtypes, mentions, splitting, resuming)
and application messages (access token cache and refresh, token errors)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from relay.channels.base import Message, Notifier
from relay.channels.tokens import TokenCache
from relay.channels.wecom import CONTENT_LIMITS, WECOM_API_BASE, WECOM_ROBOT_URL, WeComNotifier
from relay.channels.wecom_app import WeComAppNotifier
from relay.config import Config
from relay.core.alerts import Alert, Notification
from relay.core.errors import ConfigError, PermanentError, RetryableError
from relay.core.rates import Rate
from relay.pipeline.ratelimit import DestinationLimiter, LimiterRegistry
from tests.helpers.channel_yaml import one_integration

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
CORP = "ww0123456789abcdef"
APP_SECRET = "appSecret-0123456789abcdefghij"
OK = {"errcode": 0, "errmsg": "ok"}


def robot_yaml(**extra: Any) -> str:
    return one_integration("wecom", {"key": KEY, **extra})


def app_yaml(**extra: Any) -> str:
    return one_integration(
        "wecom_app", {"corp_id": CORP, "agent_id": 1000002, "api_secret": APP_SECRET, **extra}
    )


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    """Application tokens are cached process-wide: every test starts without any."""
    WeComAppNotifier.shared_tokens.clear()
    yield
    WeComAppNotifier.shared_tokens.clear()


@pytest.fixture
def robot(respx_mock: respx.MockRouter) -> respx.Route:
    return respx_mock.post(WECOM_ROBOT_URL, params={"key": KEY})


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def content(body: dict[str, Any]) -> str:
    return str(body[body["msgtype"]]["content"])


# -- the group robot: outcomes -------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (httpx.Response(200, json=OK), None, None),
        (httpx.Response(200, json={"errcode": -1, "errmsg": "system busy"}), RetryableError, "errcode_-1"),
        (
            httpx.Response(200, json={"errcode": 45009, "errmsg": "api freq out of limit"}),
            RetryableError,
            "errcode_45009",
        ),
        (
            httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid webhook url"}),
            PermanentError,
            "errcode_93000",
        ),
        (
            httpx.Response(200, json={"errcode": 93004, "errmsg": "robot disabled"}),
            PermanentError,
            "errcode_93004",
        ),
        (
            httpx.Response(200, json={"errcode": 40008, "errmsg": "invalid message type"}),
            PermanentError,
            "errcode_40008",
        ),
        (
            httpx.Response(200, json={"errcode": 44004, "errmsg": "empty content"}),
            PermanentError,
            "errcode_44004",
        ),
        (
            httpx.Response(200, json={"errcode": 40058, "errmsg": "content exceed max length"}),
            PermanentError,
            "errcode_40058",
        ),
        (
            httpx.Response(200, json={"errcode": 45002, "errmsg": "content size out of limit"}),
            PermanentError,
            "errcode_45002",
        ),
        (httpx.Response(200, json={"errmsg": "ok"}), RetryableError, "bad_response"),
        (httpx.Response(200, text="<html>gateway</html>"), RetryableError, "bad_response"),
        (httpx.Response(500, text="internal error"), RetryableError, "http_500"),
        (httpx.Response(502, text="bad gateway"), RetryableError, "http_502"),
        (httpx.Response(503, text="unavailable"), RetryableError, "http_503"),
        (httpx.Response(404, text="not found"), PermanentError, "http_404"),
        (httpx.ReadTimeout("timed out"), RetryableError, "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), RetryableError, "connect"),
    ],
    ids=[
        "0",
        "-1",
        "45009",
        "93000",
        "93004",
        "40008",
        "44004",
        "40058",
        "45002",
        "no-errcode",
        "html",
        "500",
        "502",
        "503",
        "404",
        "timeout",
        "connect",
    ],
)
async def test_robot_outcome_table(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Any,
    outcome: type[Exception] | None,
    reason: str | None,
) -> None:
    if isinstance(answer, Exception):
        robot.mock(side_effect=answer)
    else:
        robot.mock(return_value=answer)
    notifier = notifier_for(robot_yaml())

    if outcome is None:
        await notifier.send(make_message())
        assert robot.call_count == 1
        return
    with pytest.raises(outcome) as caught:
        await notifier.send(make_message())
    assert getattr(caught.value, "reason", None) == reason
    if isinstance(answer, httpx.Response) and "errcode" in answer.text:
        errmsg = answer.json()["errmsg"]
        assert errmsg in str(caught.value)  # WeCom's own words
    if reason == "errcode_45009":
        assert isinstance(caught.value, RetryableError)
        assert caught.value.retry_after == 60  # the limit is per minute


async def test_webhook_url_and_key_reach_the_same_robot(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(WECOM_ROBOT_URL, params={"key": KEY}).respond(json=OK)
    by_key = notifier_for(robot_yaml())
    by_url = notifier_for(
        f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        wecom_configs: [{{webhook_url: '{WECOM_ROBOT_URL}?key=${{WECOM_KEY}}'}}]
    """,
        env={"WECOM_KEY": KEY},
    )
    await by_key.send(make_message())
    await by_url.send(make_message())
    assert route.call_count == 2
    assert by_key.rate_limit_key == by_url.rate_limit_key


@pytest.mark.parametrize("fields", [{}, {"key": KEY, "webhook_url": WECOM_ROBOT_URL}])
def test_exactly_one_of_key_or_webhook_url(
    config_for: Callable[..., Config],
    fields: dict[str, str],
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for(f"""
        route: {{receiver: oncall}}
        receivers:
          - name: oncall
            wecom_configs: [{json.dumps(fields)}]
        """)
    assert "exactly one of webhook_url or key" in str(caught.value)


def test_default_rate_limit_is_20_per_minute_per_robot(
    notifier_for: Callable[..., Notifier],
) -> None:
    first = notifier_for(robot_yaml())
    again = notifier_for(robot_yaml(msgtype="text"))
    other = notifier_for(robot_yaml(key="another-robot-key-0000"))
    assert first.rate_limits == (Rate(20, 60.0),)
    assert first.rate_limit_key == again.rate_limit_key != other.rate_limit_key
    assert first.rate_limit_key is not None and KEY not in first.rate_limit_key
    # ... and the dispatcher turns that into 20 per rolling minute for this robot.
    limiter = LimiterRegistry().get(first.rate_limit_key, first.rate_limits)
    assert isinstance(limiter, DestinationLimiter)
    assert limiter.rates == (Rate(20, 60.0),)


# -- the group robot: messages -------------------------------------------------------


async def test_markdown_is_the_default(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    robot.respond(json=OK)
    await notifier_for(robot_yaml()).send(make_message(make_notification(3)))
    (body,) = bodies(robot)
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"content"}
    text = body["markdown"]["content"]
    assert text.startswith('## <font color="warning">[FIRING:3] DiskFull</font>')
    for i in range(3):
        assert f"Alert{i}" in text
        assert f"Summary: Alert{i} on db-1" in text
    assert "0001" not in text  # a firing alert's zero endsAt never shows


async def test_text_msgtype(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    robot.respond(json=OK)
    await notifier_for(robot_yaml(msgtype="text")).send(make_message(make_notification(2)))
    (body,) = bodies(robot)
    assert body["msgtype"] == "text"
    assert body["text"]["content"].startswith("[FIRING:2] DiskFull")
    assert "<font" not in body["text"]["content"] and "](" not in body["text"]["content"]


def _owned(make_alert: Callable[..., Alert], owners: list[str]) -> list[Alert]:
    alerts = []
    for i, owner in enumerate(owners):
        alert = make_alert(f"Alert{i}")
        alert.labels["owner"] = owner
        alerts.append(alert)
    return alerts


def test_markdown_mentions(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(
        robot_yaml(
            mentioned_list=["lisi"],
            mentioned_mobile_list=["13800000000"],
            mention_label="owner",
        )
    )
    assert isinstance(notifier, WeComNotifier)
    alerts = _owned(make_alert, ["zhangsan", "13900000001", "wangwu, lisi", "@all", "<b>x</b>"])

    markdown, ping = notifier.render_parts(make_message(make_notification(alerts=alerts)))

    assert markdown["msgtype"] == "markdown"
    assert set(markdown["markdown"]) == {"content"}  # mentioned_* are ignored in markdown
    assert markdown["markdown"]["content"].endswith("\n<@lisi> <@zhangsan> <@wangwu>")
    assert "<@@all>" not in markdown["markdown"]["content"]  # "@all" only from config
    assert "<@<b>" not in markdown["markdown"]["content"]
    # Mobiles have no markdown form: a short text message after it pings them.
    assert ping["msgtype"] == "text"
    assert ping["text"]["mentioned_mobile_list"] == ["13800000000", "13900000001"]
    assert ping["text"]["content"] == "[FIRING:5] DiskFull"
    assert "mentioned_list" not in ping["text"]


def test_markdown_mentioning_everyone(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    notifier = notifier_for(robot_yaml(mentioned_list=["@all", "lisi"]))
    assert isinstance(notifier, WeComNotifier)
    markdown, ping = notifier.render_parts(make_message(make_notification(2)))
    assert markdown["markdown"]["content"].endswith("\n<@lisi>")
    assert ping["text"]["mentioned_list"] == ["@all"]


def test_text_mentions_use_the_mentioned_lists(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(
        robot_yaml(
            msgtype="text",
            mentioned_list=["@all"],
            mention_label="owner",
        )
    )
    assert isinstance(notifier, WeComNotifier)
    alerts = _owned(make_alert, ["zhangsan", "+8613900000001", "zhangsan"])

    (body,) = notifier.render_parts(make_message(make_notification(alerts=alerts)))

    assert body["text"]["mentioned_list"] == ["@all", "zhangsan"]
    assert body["text"]["mentioned_mobile_list"] == ["+8613900000001"]
    assert "<@" not in body["text"]["content"]


def test_without_mentions_there_are_no_lists(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    notifier = notifier_for(robot_yaml(msgtype="text", mention_label="owner"))
    assert isinstance(notifier, WeComNotifier)
    (body,) = notifier.render_parts(make_message())
    assert set(body["text"]) == {"content"}


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_owners_of_resolved_alerts_are_not_mentioned(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    msgtype: str,
) -> None:
    notifier = notifier_for(robot_yaml(msgtype=msgtype, mention_label="owner"))
    assert isinstance(notifier, WeComNotifier)
    firing = _owned(make_alert, ["zhangsan", "13900000001"])
    resolved = [make_alert("Fixed", "resolved"), make_alert("AlsoFixed", "resolved")]
    resolved[0].labels["owner"] = "lisi"
    resolved[1].labels["owner"] = "13900000002"
    n = make_notification(alerts=firing + resolved)

    assert notifier.mentions(n) == (["zhangsan"], ["13900000001"])
    bodies = notifier.render_parts(make_message(n))
    texts = [b["text"] for b in bodies if b["msgtype"] == "text"]
    assert [t.get("mentioned_list") for t in texts] == [["zhangsan"] if msgtype == "text" else None]
    assert [t["mentioned_mobile_list"] for t in texts] == [["13900000001"]]
    if msgtype == "markdown":
        assert bodies[0]["markdown"]["content"].endswith("\n<@zhangsan>")
        assert "<@lisi>" not in bodies[0]["markdown"]["content"]


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_a_notification_with_every_alert_resolved_mentions_nobody(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    msgtype: str,
) -> None:
    notifier = notifier_for(
        robot_yaml(
            msgtype=msgtype,
            mentioned_list=["@all", "lisi"],
            mentioned_mobile_list=["13800000000"],
            mention_label="owner",
        )
    )
    assert isinstance(notifier, WeComNotifier)
    alert = make_alert("Fixed", "resolved")
    alert.labels["owner"] = "zhangsan"
    n = make_notification(alerts=[alert], status="resolved")

    assert notifier.mentions(n) == ([], [])
    (body,) = notifier.render_parts(make_message(n))  # markdown: no ping message after it
    assert set(body[msgtype]) == {"content"}
    assert "<@" not in body[msgtype]["content"]


# -- the group robot: splitting ------------------------------------------------------


def _many(make_alert: Callable[..., Alert], count: int, text: str) -> list[Alert]:
    return [make_alert(f"Alert{i:03d}", description=text) for i in range(count)]


TOTAL_40 = {
    ("en", "markdown"): "[FIRING:40] DiskFull",
    ("en", "text"): "[FIRING:40] DiskFull",
    ("zh-CN", "markdown"): "告警中 **40** 条",
    ("zh-CN", "text"): "告警中 40 条",
}


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_split_into_numbered_parts_with_and_n_more(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    msgtype: str,
    locale: str,
) -> None:
    notifier = notifier_for(robot_yaml(msgtype=msgtype, locale=locale))
    assert isinstance(notifier, WeComNotifier)
    alerts = _many(make_alert, 40, "磁盘空间不足 🔥 disk almost full " * 6)
    notification = make_notification(alerts=alerts, truncated_alerts=17)

    parts = [content(b) for b in notifier.render_parts(make_message(notification))]

    total = len(parts)
    assert total >= 3
    seen: list[str] = []
    for index, text in enumerate(parts, 1):
        assert len(text.encode("utf-8")) <= CONTENT_LIMITS[msgtype]
        first_line = text.split("\n", 1)[0]
        assert first_line.endswith(f" ({index}/{total})")
        # Every part's header counts the whole group, not only its own share.
        assert TOTAL_40[locale, msgtype] in text
        seen += [f"Alert{i:03d}" for i in range(40) if f"Alert{i:03d}" in text]
    assert seen == [a.labels["alertname"] for a in alerts]  # each once, in order
    more = "and 17 more" if locale == "en" else "另有 17 条"
    assert more in parts[-1]
    assert all(more not in p for p in parts[:-1])


def test_zh_cn_text_header_counts_the_whole_group(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(robot_yaml(msgtype="text", locale="zh-CN"))
    assert isinstance(notifier, WeComNotifier)
    notification = make_notification(alerts=_many(make_alert, 30, "磁盘" * 100))
    parts = [content(b) for b in notifier.render_parts(make_message(notification))]
    assert len(parts) > 1
    assert all("告警中 30 条" in p for p in parts)


def test_truncated_alerts_without_splitting(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    notifier = notifier_for(robot_yaml())
    assert isinstance(notifier, WeComNotifier)
    (body,) = notifier.render_parts(make_message(make_notification(2, truncated_alerts=3)))
    assert "and 3 more" in content(body)
    assert "(1/" not in content(body)


def test_one_huge_alert_is_cut_at_a_character(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(robot_yaml())
    assert isinstance(notifier, WeComNotifier)
    alert = make_alert("Huge", description="告警🔥" * 2000)
    (body,) = notifier.render_parts(make_message(make_notification(alerts=[alert])))
    data = content(body).encode("utf-8")
    assert len(data) <= 4096
    assert content(body).endswith("…")
    assert "Huge" in content(body)


async def test_parts_are_sent_in_order_and_a_retry_resumes(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(robot_yaml())
    message = make_message(make_notification(alerts=_many(make_alert, 40, "x" * 300)))
    assert isinstance(notifier, WeComNotifier)
    expected = notifier.render_parts(message)
    assert len(expected) >= 3
    robot.side_effect = [
        httpx.Response(200, json=OK),
        httpx.Response(200, json={"errcode": 45009, "errmsg": "api freq out of limit"}),
    ]

    with pytest.raises(RetryableError) as caught:
        await notifier.send(message)
    assert caught.value.reason == "errcode_45009"
    assert f"part 2/{len(expected)} (part 1 delivered" in str(caught.value)

    robot.side_effect = None
    robot.return_value = httpx.Response(200, json=OK)
    delivery = await notifier.send(message)

    assert bodies(robot) == [expected[0], expected[1], *expected[1:]]
    assert (delivery.data["parts"], delivery.data["resumed_at"]) == (len(expected), 2)


async def test_a_permanent_error_in_a_later_part_names_it(
    robot: respx.Route,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    robot.side_effect = [
        httpx.Response(200, json=OK),
        httpx.Response(200, json={"errcode": 40058, "errmsg": "too long"}),
    ]
    message = make_message(make_notification(alerts=_many(make_alert, 40, "x" * 300)))
    with pytest.raises(PermanentError) as caught:
        await notifier_for(robot_yaml()).send(message)
    assert caught.value.reason == "errcode_40058"
    assert "part 2/" in caught.value.message


# -- WeCom application ---------------------------------------------------------------

GETTOKEN = f"{WECOM_API_BASE}gettoken"
SEND = f"{WECOM_API_BASE}message/send"


def token_answer(token: str, expires_in: int = 7200) -> httpx.Response:
    return httpx.Response(200, json={**OK, "access_token": token, "expires_in": expires_in})


async def test_app_token_is_fetched_once_and_reused(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    gettoken = respx_mock.get(GETTOKEN).mock(return_value=token_answer("TOKEN-1"))
    send = respx_mock.post(SEND).respond(json=OK)
    notifier = notifier_for(app_yaml(to_user="zhangsan|lisi", to_party="2"))

    await notifier.send(make_message())
    await notifier.send(make_message(job_id="another-job"))

    assert gettoken.call_count == 1
    params = gettoken.calls.last.request.url.params
    assert (params["corpid"], params["corpsecret"]) == (CORP, APP_SECRET)
    assert send.call_count == 2
    for call in send.calls:
        assert call.request.url.params["access_token"] == "TOKEN-1"
    body = json.loads(send.calls.last.request.content)
    assert body["touser"] == "zhangsan|lisi"
    assert body["toparty"] == "2"
    assert "totag" not in body
    assert body["agentid"] == 1000002
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith('## <font color="warning">[FIRING:2]')


async def test_app_defaults_to_everyone(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    respx_mock.get(GETTOKEN).mock(return_value=token_answer("T"))
    send = respx_mock.post(SEND).respond(json=OK)
    await notifier_for(app_yaml(msgtype="text")).send(make_message())
    body = json.loads(send.calls.last.request.content)
    assert body["touser"] == "@all"
    assert body["msgtype"] == "text"


@pytest.mark.parametrize("errcode", [40014, 41001, 42001])
async def test_app_token_refreshed_and_retried_once(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    errcode: int,
) -> None:
    gettoken = respx_mock.get(GETTOKEN).mock(side_effect=[token_answer("OLD"), token_answer("NEW")])
    send = respx_mock.post(SEND).mock(
        side_effect=[
            httpx.Response(200, json={"errcode": errcode, "errmsg": "access_token expired"}),
            httpx.Response(200, json=OK),
        ]
    )
    notifier = notifier_for(app_yaml())

    await notifier.send(make_message())

    assert gettoken.call_count == 2
    tokens = [c.request.url.params["access_token"] for c in send.calls]
    assert tokens == ["OLD", "NEW"]
    # The new token is cached: the next message needs no gettoken.
    send.side_effect = None
    send.return_value = httpx.Response(200, json=OK)
    await notifier.send(make_message(job_id="next"))
    assert gettoken.call_count == 2
    assert send.calls.last.request.url.params["access_token"] == "NEW"


async def test_app_token_rejected_twice_is_not_retried_again(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    gettoken = respx_mock.get(GETTOKEN).mock(side_effect=[token_answer("A"), token_answer("B")])
    send = respx_mock.post(SEND).respond(json={"errcode": 42001, "errmsg": "expired"})
    with pytest.raises(PermanentError) as caught:
        await notifier_for(app_yaml()).send(make_message())
    assert caught.value.reason == "errcode_42001"
    assert (gettoken.call_count, send.call_count) == (2, 2)


async def test_app_token_expiry_by_time(
    respx_mock: respx.MockRouter,
    config_for: Callable[..., Config],
    ctx_for: Callable[[Config], Any],
    make_message: Callable[..., Message],
) -> None:
    now = [1000.0]
    tokens = TokenCache(clock=lambda: now[0])
    gettoken = respx_mock.get(GETTOKEN).mock(side_effect=[token_answer("A", 7200), token_answer("B", 7200)])
    send = respx_mock.post(SEND).respond(json=OK)
    config = config_for(app_yaml())
    (channel,) = [c for r in config.receivers for _, c in r.integrations()]
    notifier = WeComAppNotifier(channel, ctx_for(config), tokens=tokens)

    await notifier.send(make_message())
    now[0] += 7200 - TokenCache.MARGIN - 1
    await notifier.send(make_message(job_id="j2"))
    now[0] += 2  # past expires_in minus the margin: fetched anew before WeCom says so
    await notifier.send(make_message(job_id="j3"))

    assert gettoken.call_count == 2
    assert [c.request.url.params["access_token"] for c in send.calls] == ["A", "A", "B"]


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (
            httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"}),
            PermanentError,
            "errcode_40001",
        ),
        (
            httpx.Response(200, json={"errcode": 40013, "errmsg": "invalid corpid"}),
            PermanentError,
            "errcode_40013",
        ),
        (httpx.Response(200, json={"errcode": -1, "errmsg": "system busy"}), RetryableError, "errcode_-1"),
        (httpx.Response(200, json=OK), RetryableError, "bad_response"),  # no access_token
        (httpx.Response(500, text="oops"), RetryableError, "http_500"),
        (httpx.ConnectTimeout("timed out"), RetryableError, "timeout"),
    ],
    ids=["40001", "40013", "-1", "no-token", "500", "timeout"],
)
async def test_app_token_request_errors(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Any,
    outcome: type[Exception],
    reason: str,
) -> None:
    route = respx_mock.get(GETTOKEN)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    send = respx_mock.post(SEND).respond(json=OK)
    with pytest.raises(outcome) as caught:
        await notifier_for(app_yaml()).send(make_message())
    assert caught.value.reason == reason  # type: ignore[attr-defined]
    assert "gettoken" in str(caught.value) or reason in ("http_500", "timeout")
    assert send.call_count == 0


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        ({"errcode": 81013, "errmsg": "user & party & tag all invalid"}, PermanentError, "errcode_81013"),
        ({"errcode": 60020, "errmsg": "not allow to access from your ip"}, PermanentError, "errcode_60020"),
        ({"errcode": -1, "errmsg": "system busy"}, RetryableError, "errcode_-1"),
        ({"errcode": 45009, "errmsg": "api freq out of limit"}, RetryableError, "errcode_45009"),
    ],
    ids=["81013", "60020", "-1", "45009"],
)
async def test_app_send_errors(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: dict[str, Any],
    outcome: type[Exception],
    reason: str,
) -> None:
    respx_mock.get(GETTOKEN).mock(return_value=token_answer("T"))
    respx_mock.post(SEND).respond(json=answer)
    with pytest.raises(outcome) as caught:
        await notifier_for(app_yaml()).send(make_message())
    assert caught.value.reason == reason  # type: ignore[attr-defined]
    assert answer["errmsg"] in str(caught.value)


async def test_app_partly_invalid_recipients_is_delivered_with_a_warning(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="relay.channels.wecom")
    respx_mock.get(GETTOKEN).mock(return_value=token_answer("T"))
    respx_mock.post(SEND).respond(json={**OK, "invaliduser": "ghost"})
    await notifier_for(app_yaml(to_user="zhangsan|ghost")).send(make_message())
    assert "invaliduser=ghost" in caplog.text


def test_app_rate_limit_and_config(
    notifier_for: Callable[..., Notifier],
    config_for: Callable[..., Config],
) -> None:
    notifier = notifier_for(app_yaml(api_url="http://127.0.0.1:9/cgi-bin"))
    assert notifier.rate_limits == (Rate(30, 60.0),)
    assert notifier.rate_limit_key is not None and APP_SECRET not in notifier.rate_limit_key
    with pytest.raises(ConfigError) as caught:
        config_for(app_yaml(agent_id="not-a-number"))
    assert "agent_id" in str(caught.value)
