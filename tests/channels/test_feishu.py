"""Feishu / Lark custom bot with respx: outcomes by ``code``, the signature (checked by an
HMAC written out here from RFC 2104), cards and text, mentions, injection, splitting
properties, and a storm of 100 notifications through the dispatcher into a fake bot that
enforces 5 per second and 100 per minute."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.channels import make_renderer
from relay.channels.base import Message, Notifier, NotifierContext
from relay.channels.feishu import BODY_LIMIT, SIGN_RESERVE, FeishuNotifier, lark_md
from relay.config import Config
from relay.core.alerts import Alert, Notification
from relay.core.clock import FakeClock
from relay.core.errors import PermanentError, RetryableError
from relay.core.rates import Rate
from tests.helpers.channel_yaml import ROUTE, one_integration

TOKEN = "0d4f1c2e-9a8b-4c7d-8e6f-5a4b3c2d1e0f"
URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"
SECRET = "feishuSignSecret-Q1w2E3r4"
OK = {"code": 0, "data": {}, "msg": "success"}


def bot_yaml(top: str = ROUTE, **extra: Any) -> str:
    return one_integration("feishu", {"webhook_url": URL, **extra}, top)


def posted(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC as RFC 2104 defines it, from SHA-256 alone (not the hmac module relay uses)."""
    block = 64
    key = key.ljust(block, b"\0") if len(key) <= block else hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def expected_sign(timestamp: str, secret: str) -> str:
    """Feishu's rule: the key is ``timestamp + "\\n" + secret``, the message is empty."""
    return base64.b64encode(hmac_sha256(f"{timestamp}\n{secret}".encode(), b"")).decode()


def notifier_with_clock(
    config_for: Callable[..., Config],
    ctx_for: Callable[[Config], NotifierContext],
    clock: FakeClock,
    **extra: Any,
) -> Notifier:
    config = config_for(bot_yaml(**extra))
    ctx = ctx_for(config)
    ctx.renderer = make_renderer(config, clock=clock)
    return config.receivers[0].feishu_configs[0].build(ctx)  # type: ignore[attr-defined, no-any-return]


# -- outcomes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "outcome", "reason", "words"),
    [
        ([httpx.Response(200, json=OK)], None, "", ""),
        ([httpx.Response(200, json={"StatusCode": 0, "StatusMessage": "success"})], None, "", ""),
        (
            [
                httpx.Response(
                    200,
                    json={
                        "code": 11232,
                        "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]",
                    },
                )
            ],
            RetryableError,
            "code_11232",
            "frequency limited",
        ),
        (
            [httpx.Response(200, json={"code": 9499, "msg": "too many request"})],
            RetryableError,
            "code_9499",
            "too many request",
        ),
        (
            [httpx.Response(400, json={"code": 9499, "msg": "Bad Request", "data": {}})],
            PermanentError,
            "code_9499",
            "malformed or over 20 KB",
        ),
        (
            [httpx.Response(200, json={"code": 19022, "msg": "Ip Not Allowed"})],
            PermanentError,
            "code_19022",
            "IP 白名单",
        ),
        (
            [httpx.Response(200, json={"code": 19024, "msg": "Key Words Not Found"})],
            PermanentError,
            "code_19024",
            "自定义关键词",
        ),
        (
            [httpx.Response(200, json={"code": 11246, "msg": "open_id ou_x is invalid"})],
            PermanentError,
            "code_11246",
            "open_id ou_x is invalid",
        ),
        (
            [httpx.Response(200, json={"code": 19036, "msg": "card too large"})],
            PermanentError,
            "code_19036",
            "too large",
        ),
        (
            [
                httpx.Response(
                    200, json={"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
                )
            ],
            PermanentError,
            "code_19001",
            "access token invalid",
        ),
        (
            [
                httpx.Response(
                    200,
                    json={
                        "code": 19021,
                        "msg": "sign match fail or timestamp is not within one hour from current time",
                    },
                )
            ],
            PermanentError,
            "code_19021",
            "set secret",
        ),
        (
            [httpx.Response(429, headers={"Retry-After": "7"}, text="slow down")],
            RetryableError,
            "http_429",
            "slow down",
        ),
        ([httpx.Response(502, text="<html>bad gateway</html>")], RetryableError, "http_502", ""),
        (
            [httpx.Response(500, json={"code": 1500, "msg": "internal error"})],
            RetryableError,
            "http_500",
            "internal error",
        ),
        ([httpx.Response(404, text="404 page not found")], PermanentError, "http_404", ""),
        ([httpx.Response(200, text="<html>proxy</html>")], RetryableError, "bad_response", ""),
        ([httpx.ConnectError("refused")], RetryableError, "connect", ""),
    ],
    ids=[
        "0",
        "StatusCode-0",
        "11232",
        "9499-throttled",
        "9499-bad-request",
        "19022",
        "19024",
        "11246",
        "19036",
        "19001",
        "19021-unsigned",
        "429",
        "502",
        "500-1500",
        "404",
        "not-json",
        "connect",
    ],
)
async def test_outcome_table(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answers: list[Any],
    outcome: type[Exception] | None,
    reason: str,
    words: str,
) -> None:
    route = respx_mock.post(URL).mock(side_effect=answers)
    notifier = notifier_for(bot_yaml())
    if outcome is None:
        await notifier.send(make_message())
        assert route.call_count == 1
        return
    with pytest.raises(outcome) as caught:
        await notifier.send(make_message())
    error = caught.value
    assert error.reason == reason  # type: ignore[attr-defined]
    assert words in error.message  # type: ignore[attr-defined]
    if reason in ("code_11232", "code_9499") and outcome is RetryableError:
        assert error.throttled  # type: ignore[attr-defined]
    if reason == "http_429":
        assert error.retry_after == 7.0  # type: ignore[attr-defined]


async def test_signed_body_is_verified_by_an_independent_hmac(
    respx_mock: respx.MockRouter,
    config_for: Callable[..., Config],
    ctx_for: Callable[[Config], NotifierContext],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=OK))
    clock = FakeClock(1_599_360_473.0)
    notifier = notifier_with_clock(config_for, ctx_for, clock, secret=SECRET)
    await notifier.send(make_message())
    clock.advance(61)
    await notifier.send(make_message(job_id="another"))
    first, second = posted(route)
    assert first["timestamp"] == "1599360473"  # seconds, as a string
    assert first["sign"] == expected_sign("1599360473", SECRET)
    assert second["timestamp"] == "1599360534"  # each request signs afresh
    assert second["sign"] == expected_sign("1599360534", SECRET)
    assert first["msg_type"] == "interactive"


async def test_unsigned_bot_gets_no_timestamp(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=OK))
    await notifier_for(bot_yaml()).send(make_message())
    assert "timestamp" not in posted(route)[0] and "sign" not in posted(route)[0]


SIGN_FAIL = {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}


async def test_19021_is_signed_afresh_once_at_once(
    respx_mock: respx.MockRouter,
    config_for: Callable[..., Config],
    ctx_for: Callable[[Config], NotifierContext],
    make_message: Callable[..., Message],
) -> None:
    clock = FakeClock(1_700_000_000.0)

    def answer(request: httpx.Request) -> httpx.Response:
        clock.advance(1)
        return httpx.Response(200, json=SIGN_FAIL if route.call_count == 0 else OK)

    route = respx_mock.post(URL).mock(side_effect=answer)
    notifier = notifier_with_clock(config_for, ctx_for, clock, secret=SECRET)
    await notifier.send(make_message())
    first, second = posted(route)
    assert first["timestamp"] != second["timestamp"]
    assert second["sign"] == expected_sign(second["timestamp"], SECRET)


async def test_19021_twice_is_permanent_with_a_hint(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=SIGN_FAIL))
    with pytest.raises(PermanentError) as caught:
        await notifier_for(bot_yaml(secret=SECRET)).send(make_message())
    assert route.call_count == 2  # once, then once more signed afresh: not a third time
    assert "check secret (签名校验) and this host's clock" in caught.value.message


# -- config ---------------------------------------------------------------------------


def test_config_rules(config_for: Callable[..., Config]) -> None:
    from relay.core.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        config_for(bot_yaml(webhook_url=TOKEN))
    assert "must be a full URL starting with https://open.feishu.cn" in str(caught.value)
    assert TOKEN not in str(caught.value)
    with pytest.raises(ConfigError, match="at_all: true"):
        config_for(bot_yaml(at_user_ids=["all"]))
    assert config_for(bot_yaml()).warnings == []
    lark = config_for(bot_yaml(webhook_url=URL.replace("open.feishu.cn", "open.larksuite.com")))
    assert lark.warnings == []
    proxy = config_for(bot_yaml(webhook_url=f"http://127.0.0.1:8080/hook/{TOKEN}"))
    assert any("not a Feishu or Lark bot hook" in str(w) for w in proxy.warnings)


def test_secrets_from_files(config_for: Callable[..., Config], tmp_path: Any) -> None:
    (tmp_path / "url").write_text(URL + "\n")
    (tmp_path / "secret").write_text(SECRET + "\n")
    config = config_for(
        bot_yaml(
            webhook_url=None, webhook_url_file=str(tmp_path / "url"), secret_file=str(tmp_path / "secret")
        ).replace('"webhook_url": null, ', "")
    )
    entry = config.receivers[0].feishu_configs[0]  # type: ignore[attr-defined]
    assert entry.webhook_url.get_secret_value() == URL
    assert entry.secret.get_secret_value() == SECRET


def test_rate_limits_are_5_per_second_and_100_per_minute(
    notifier_for: Callable[..., Notifier],
) -> None:
    notifier = notifier_for(bot_yaml(secret=SECRET))
    assert notifier.rate_limits == (Rate(5, 1.0), Rate(100, 60.0))
    assert notifier.rate_limit_key is not None and TOKEN not in notifier.rate_limit_key
    other = notifier_for(bot_yaml(webhook_url=URL + "x"))
    assert other.rate_limit_key != notifier.rate_limit_key


# -- the card -------------------------------------------------------------------------


def card_of(notifier: Notifier, message: Message) -> dict[str, Any]:
    bodies = notifier.render_parts(message)  # type: ignore[attr-defined]
    assert len(bodies) == 1
    return bodies[0]["card"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("severities", "status", "color"),
    [
        (["critical", "info"], "firing", "red"),
        (["warning", "info"], "firing", "orange"),
        (["info"], "firing", "blue"),
        (["none"], "firing", "blue"),
        (["critical"], "resolved", "green"),
    ],
)
def test_header_colour_by_status_and_top_severity(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    severities: list[str],
    status: str,
    color: str,
) -> None:
    alerts = []
    for i, severity in enumerate(severities):
        alert = make_alert(f"A{i}", status)
        alerts.append(alert.model_copy(update={"labels": {**alert.labels, "severity": severity}}))
    n = make_notification(status=status, alerts=alerts)
    card = card_of(notifier_for(bot_yaml()), make_message(n))
    assert card["header"]["template"] == color


def test_a_section_and_link_buttons_per_alert(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    firing = make_alert("DiskFull", runbook_url="https://wiki.local/disk")
    resolved = make_alert("CpuHigh", "resolved")
    n = make_notification(alerts=[firing, resolved])
    card = card_of(notifier_for(bot_yaml()), make_message(n))
    assert card["header"]["title"]["content"] == "🔴 [FIRING:1] DiskFull"
    divs = [e["text"]["content"] for e in card["elements"] if e["tag"] == "div"]
    assert [d.split("**")[1] for d in divs] == ["🔴 DiskFull", "✅ CpuHigh"]
    actions = [
        [(b["text"]["content"], b["url"]) for b in e["actions"]]
        for e in card["elements"]
        if e["tag"] == "action"
    ]
    # The filter as Alertmanager's UI writes it: {alertname="DiskFull", instance=..., ...}.
    silence = (
        "http://alertmanager.local:9093/#/silences/new?filter=%7Balertname%3D%22DiskFull"
        "%22%2C%20instance%3D%22db-1%3A9100%22%2C%20severity%3D%22critical%22%7D"
    )
    assert actions == [
        [
            ("Graph", "http://prometheus.local/graph?g0.expr=up"),
            ("Runbook", "https://wiki.local/disk"),
            ("Silence", silence),
        ],
        [("Graph", "http://prometheus.local/graph?g0.expr=up")],  # no silence once resolved
    ]


def test_zh_cn_card(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    card = card_of(notifier_for(bot_yaml(locale="zh-CN")), make_message())
    assert card["header"]["title"]["content"] == "🔴 【告警:2】DiskFull"
    assert "**摘要：**Alert0 on db&#45;1" not in json.dumps(card)  # '-' is not markup
    assert "**摘要：**Alert0 on db-1" in card["elements"][0]["text"]["content"]
    assert card["elements"][1]["actions"][-1]["text"]["content"] == "静默"


def test_mentions_only_while_firing(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    owner = make_alert("A")
    owner = owner.model_copy(update={"labels": {**owner.labels, "owner": "ou_abc, all <at>"}})
    notifier = notifier_for(bot_yaml(at_user_ids=["ou_lead"], mention_label="owner", at_all=True))
    card = card_of(notifier, make_message(make_notification(alerts=[owner])))
    assert card["elements"][-1] == {
        "tag": "div",
        "text": {"tag": "lark_md", "content": "<at id=all></at> <at id=ou_lead></at> <at id=ou_abc></at>"},
    }
    resolved = make_notification(status="resolved", alerts=[make_alert("A", "resolved")])
    assert "<at " not in json.dumps(card_of(notifier, make_message(resolved)))


def test_text_msgtype_with_mentions(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    notifier = notifier_for(bot_yaml(msgtype="text", at_all=True, at_user_ids=["ou_lead"]))
    [body] = notifier.render_parts(make_message())  # type: ignore[attr-defined]
    text = body["content"]["text"]
    assert body["msg_type"] == "text"
    assert text.startswith("[FIRING:2] DiskFull\n")
    assert "Silence: http://alertmanager.local:9093/#/silences/new?filter=" in text
    assert text.endswith('\n<at user_id="all">所有人</at> <at user_id="ou_lead"></at>')


# -- injection ------------------------------------------------------------------------

HOSTILE = (
    '<at id=all></at> @all <at user_id="all">x</at> [click](http://evil.example) '
    "**bold** <font color='red'>x</font> `code` # heading ~~s~~ _i_"
)


def hostile(make_notification: Callable[..., Notification], make_alert: Callable[..., Alert]) -> Notification:
    alert = make_alert("Evil", summary=HOSTILE, description=HOSTILE)
    labels = {**alert.labels, "alertname": HOSTILE, "team": HOSTILE}
    return make_notification(
        alerts=[alert.model_copy(update={"labels": labels})], group_labels={"alertname": HOSTILE}
    )


def test_labels_cannot_mention_link_or_format_in_a_card(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    card = card_of(notifier_for(bot_yaml()), make_message(hostile(make_notification, make_alert)))
    for element in card["elements"]:
        if element["tag"] != "div":
            continue
        content = element["text"]["content"]
        without_ours = re.sub(r"\*\*[^*<>\[\]]*?\*\*|<font color='green'>", "", content)
        for markup in ("<at", "<font", "](", "`", "~~", "# "):
            assert markup not in without_ours, (markup, content)
        assert lark_md(HOSTILE) in content
    assert card["header"]["title"]["tag"] == "plain_text"  # the title is never markup


def test_labels_cannot_mention_in_a_text_message(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(bot_yaml(msgtype="text"))
    [body] = notifier.render_parts(make_message(hostile(make_notification, make_alert)))  # type: ignore[attr-defined]
    assert "<" not in body["content"]["text"]
    assert "＜at id=all＞＜/at＞" in body["content"]["text"]


# -- splitting ------------------------------------------------------------------------

WORDS = st.text(alphabet=st.sampled_from([*'ab 中文告警*_<>&"\\\n', "🔥", "é"]), min_size=0, max_size=3000)


def numbered(make_alert: Callable[..., Alert], texts: list[str]) -> list[Alert]:
    alerts = []
    for i, text in enumerate(texts):
        alert = make_alert(f"N{i:03d}X", description=text)
        # A label too, so the silence link (every label, percent-encoded) grows with it.
        labels = {**alert.labels, "note": text[: len(text) // 2]}
        alerts.append(alert.model_copy(update={"labels": labels}))
    return alerts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(WORDS, min_size=1, max_size=40),
    msgtype=st.sampled_from(["interactive", "text"]),
    truncated=st.integers(0, 3),
)
def test_split_parts_fit_hold_each_alert_once_in_order_and_are_json(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
    texts: list[str],
    msgtype: str,
    truncated: int,
) -> None:
    notifier = notifier_for(bot_yaml(msgtype=msgtype, secret=SECRET))
    n = make_notification(alerts=numbered(make_alert, texts), truncated_alerts=truncated)
    preview = notifier.preview(make_message(n))
    seen: list[str] = []
    for i, part in enumerate(preview.parts, 1):
        size = len(part.encode())
        assert size + SIGN_RESERVE <= BODY_LIMIT  # room left for timestamp and sign
        body = json.loads(part)
        assert "timestamp" not in body
        seen += re.findall(r"N\d{3}X", part)
        if len(preview.parts) > 1:
            title = (
                body["card"]["header"]["title"]["content"]
                if msgtype == "interactive"
                else body["content"]["text"].splitlines()[0]
            )
            assert title.endswith(f"({i}/{len(preview.parts)})")
    # Each alert's name is in exactly one part (the text repeats it in the silence link).
    names = list(dict.fromkeys(seen))
    assert names == [f"N{i:03d}X" for i in range(len(texts))]
    for name in names:
        assert sum(name in part for part in preview.parts) == 1
    more = "more alert" if msgtype == "text" else "more alerts not shown"
    assert (more in preview.parts[-1]) == bool(truncated)


def test_signed_parts_are_within_20_kb_as_sent(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=OK))
    n = make_notification(alerts=numbered(make_alert, ["告警" * 2000] * 6 + ["x" * 30_000]))
    notifier = notifier_for(bot_yaml(secret=SECRET))
    import asyncio

    delivery = asyncio.run(notifier.send(make_message(n)))
    assert delivery.detail.startswith(f"{route.call_count} cards")
    assert route.call_count >= 4
    for call in route.calls:
        assert len(call.request.content) <= BODY_LIMIT
        assert "…" in call.request.content.decode() or b"N006X" not in call.request.content


def test_an_alert_too_big_for_a_card_loses_its_long_links_first(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    alert = make_alert("Flood")
    alert = alert.model_copy(update={"labels": {**alert.labels, "blob": "洪" * 4000}})
    card = card_of(notifier_for(bot_yaml()), make_message(make_notification(alerts=[alert])))
    [div] = [e["text"]["content"] for e in card["elements"] if e["tag"] == "div"]
    assert "洪" * 4000 in div and not div.endswith("…")  # the text fits once the link is gone
    [action] = [e["actions"] for e in card["elements"] if e["tag"] == "action"]
    assert [b["text"]["content"] for b in action] == ["Graph"]  # 36 KB silence link dropped


# -- a storm through the dispatcher ---------------------------------------------------


class VirtualTime:
    """Monotonic time that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


class FakeFeishu:
    """A bot that counts as Feishu does: past 5 in any second or 100 in any minute it
    answers 11232, and it keeps what it delivered."""

    def __init__(self, time: VirtualTime) -> None:
        self.time = time
        self.accepted: list[float] = []
        self.throttled = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.time.now
        last_second = [t for t in self.accepted if t > now - 1.0]
        last_minute = [t for t in self.accepted if t > now - 60.0]
        if len(last_second) >= 5 or len(last_minute) >= 100:
            self.throttled += 1
            return httpx.Response(200, json={"code": 11232, "msg": "frequency limited"})
        self.accepted.append(now)
        return httpx.Response(200, json=OK)


async def test_a_storm_of_100_notifications_stays_within_5_per_second_and_100_per_minute(
    respx_mock: respx.MockRouter,
    relay_factory: Any,
) -> None:
    from relay.pipeline.ratelimit import LimiterRegistry
    from tests.helpers.webhooks import alert, webhook

    time = VirtualTime()
    bot = FakeFeishu(time)
    respx_mock.post(URL).mock(side_effect=bot)
    config = bot_yaml("route: {receiver: oncall, group_by: [alertname], group_wait: 0s}", secret=SECRET)
    async with relay_factory(config) as relay:
        relay.state.dispatcher.limiters = LimiterRegistry(monotonic=time.monotonic, sleep=time.sleep)
        for i in range(100):
            # Every tenth notification is two alerts of 12 KB: two cards, 110 posts in all,
            # so the minute's 100 are used up before the storm is over.
            blob = {"blob": "x" * 12_000} if i % 10 == 0 else {}
            alerts = [alert(f"Storm{i}", instance=f"node-{k}", **blob) for k in range(2 if blob else 1)]
            group_key = f'{{}}:{{alertname="Storm{i}"}}'
            assert (await relay.post(webhook(*alerts, group_key=group_key))).status_code == 200
        await relay.flush()
        assert await relay.deliver_all() == 100
        jobs = await relay.jobs()
    assert bot.throttled == 0
    assert len(bot.accepted) == 110
    assert all(job.status == "delivered" for job in jobs)
    # 5 per second and 100 per minute: the 101st post waits for the first minute to pass.
    assert bot.accepted[100] >= 60.0
    assert max(sum(1 for t in bot.accepted if s <= t < s + 1) for s in bot.accepted) <= 5


# -- render ---------------------------------------------------------------------------


def test_preview_names_the_limit(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    preview = notifier_for(bot_yaml()).preview(make_message())
    assert preview.note.startswith("feishu: 1 message, JSON bytes ")
    assert preview.note.endswith("(limit 20000)")
    assert isinstance(FeishuNotifier, type)


# -- the CLI: render and test-alert ---------------------------------------------------


@pytest.mark.parametrize(("locale", "firing"), [("en", "[FIRING:3]"), ("zh-CN", "【告警:3】")])
def test_relay_render_channel_feishu(tmp_path: Any, locale: str, firing: str) -> None:
    from click.testing import CliRunner

    from relay.cli.commands import main

    config = tmp_path / "relay.yml"
    config.write_text(
        f"global: {{locale: {locale}}}\nroute: {{receiver: f}}\nreceivers:\n"
        f"  - name: f\n    feishu_configs: [{{webhook_url: '{URL}'}}]\n"
    )
    result = CliRunner().invoke(
        main, ["render", "--channel", "feishu", "--config", str(config)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    [body] = json.loads(result.stdout)
    assert firing in body["card"]["header"]["title"]["content"]
    assert "(limit 20000)" in result.stderr
    assert TOKEN not in result.output


def test_relay_test_alert_receiver_delivers_to_a_feishu_bot(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from relay.cli.commands import main
    from tests.helpers.sink import Answer, Sink

    with Sink(Answer(body=OK)) as bot:
        config = tmp_path / "relay.yml"
        config.write_text(
            "route: {receiver: f}\nreceivers:\n  - name: f\n    feishu_configs:\n"
            f"      - {{webhook_url: '{bot.url}/open-apis/bot/v2/hook/{TOKEN}', secret: {SECRET},"
            " msgtype: text}\n"
        )
        result = CliRunner().invoke(
            main, ["test-alert", "--receiver", "f", "--config", str(config)], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == ["f/feishu/0: ok"]
        [sent] = bot.received
    body = sent.json()
    assert sent.path == f"/open-apis/bot/v2/hook/{TOKEN}"
    assert body["sign"] == expected_sign(body["timestamp"], SECRET)
    assert body["msg_type"] == "text" and "[FIRING:1]" in body["content"]["text"]
