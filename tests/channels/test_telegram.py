"""Telegram with respx: the outcome table, the config, HTML that labels cannot break,
splitting at 4096 characters as Telegram counts them (checked with html.parser), a storm
within 1 per second and 20 per minute, and the bot token kept out of every output."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.channels.base import Message, Notifier
from relay.channels.telegram import TEXT_LIMIT, TelegramNotifier, cut_html, visible_length
from relay.cli.commands import main
from relay.config import Config
from relay.core.alerts import Alert, Notification
from relay.core.errors import ConfigError, DeliveryError, PermanentError, RetryableError
from relay.core.rates import Rate
from tests.channels.test_channel_secrets import leaks
from tests.helpers.channel_yaml import ROUTE, one_integration
from tests.helpers.sink import Answer, Sink
from tests.helpers.storm import EnforcingVendor, VirtualTime, storm

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET_HALF = TOKEN.split(":")[1]
API = "https://api.telegram.org"
SEND = f"{API}/bot{TOKEN}/sendMessage"
OK = {"ok": True, "result": {"message_id": 42}}


def tg_yaml(top: str = ROUTE, **extra: Any) -> str:
    """A config with one Telegram integration; ``top`` holds the route and other sections."""
    return one_integration("telegram", {"bot_token": TOKEN, "chat_id": -1001234567890, **extra}, top)


def error(code: int, description: str, **parameters: Any) -> httpx.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return httpx.Response(code, json=body)


# -- HTML as an independent parser reads it ------------------------------------------

TELEGRAM_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "span",
    "tg-spoiler",
    "tg-emoji",
}


class Entities(HTMLParser):
    """The text Telegram shows and the entities it makes, or why it would refuse."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.visible = ""
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.problems: list[str] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"unclosed {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"<{tag}>")
        self.stack.append(tag)
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.visible += data

    @property
    def utf16(self) -> int:
        return len(self.visible.encode("utf-16-le")) // 2


def texts(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["text"] for call in route.calls]


# -- outcomes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome", "reason", "words"),
    [
        (httpx.Response(200, json=OK), None, None, ""),
        (
            error(429, "Too Many Requests: retry after 17", retry_after=17),
            RetryableError,
            "telegram_429",
            "retry after 17",
        ),
        (
            error(400, 'Bad Request: can\'t parse entities: Unsupported start tag "x"'),
            PermanentError,
            "telegram_400",
            "escape values",
        ),
        (error(400, "Bad Request: chat not found"), PermanentError, "telegram_400", "check chat_id"),
        (
            error(400, "Bad Request: message thread not found"),
            PermanentError,
            "telegram_400",
            "message_thread_id",
        ),
        (
            error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=-1009876543210,
            ),
            PermanentError,
            "telegram_400",
            "set chat_id to -1009876543210",
        ),
        (error(401, "Unauthorized"), PermanentError, "telegram_401", "@BotFather"),
        (error(403, "Forbidden: bot was blocked by the user"), PermanentError, "telegram_403", "unblock"),
        (
            error(403, "Forbidden: bot was kicked from the supergroup chat"),
            PermanentError,
            "telegram_403",
            "add it back",
        ),
        (
            error(403, "Forbidden: bot is not a member of the channel chat"),
            PermanentError,
            "telegram_403",
            "administrator",
        ),
        (error(500, "Internal Server Error"), RetryableError, "telegram_500", ""),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), RetryableError, "http_502", ""),
        (httpx.Response(200, text="<html>proxy</html>"), RetryableError, "bad_response", ""),
        (httpx.ReadTimeout("timed out"), RetryableError, "timeout", ""),
        (httpx.ConnectError("refused"), RetryableError, "connect", ""),
    ],
    ids=[
        "ok",
        "429",
        "entities",
        "chat",
        "thread",
        "migrated",
        "401",
        "blocked",
        "kicked",
        "not-member",
        "500",
        "502-html",
        "200-html",
        "timeout",
        "connect",
    ],
)
async def test_outcome_table(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Any,
    outcome: type[Exception] | None,
    reason: str | None,
    words: str,
) -> None:
    route = respx_mock.post(SEND)
    route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(return_value=answer)
    notifier = notifier_for(tg_yaml())
    if outcome is None:
        delivery = await notifier.send(make_message())
        assert delivery.data["results"] == [42]
        return
    with pytest.raises(outcome) as caught:
        await notifier.send(make_message())
    assert isinstance(caught.value, DeliveryError)
    assert caught.value.reason == reason
    assert words in caught.value.message
    if reason == "telegram_429":
        assert isinstance(caught.value, RetryableError)
        assert caught.value.retry_after == 17.0 and caught.value.throttled


# -- config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chat_id", "group", "expected"),
    [
        (123456789, False, 123456789),
        ("-1001234567890", True, -1001234567890),
        (-4012345, True, -4012345),
        ("@relay_alerts", True, "@relay_alerts"),
    ],
)
def test_chat_ids_and_their_rate_limits(
    notifier_for: Callable[..., Notifier],
    chat_id: Any,
    group: bool,
    expected: Any,
) -> None:
    notifier = notifier_for(tg_yaml(chat_id=chat_id))
    assert isinstance(notifier, TelegramNotifier)
    assert notifier.render_parts  # built
    limits = (Rate(1, 1.0), Rate(20, 60.0)) if group else (Rate(1, 1.0),)
    assert notifier.rate_limits == limits
    assert notifier.rate_limit_key is not None and TOKEN not in notifier.rate_limit_key
    assert SECRET_HALF not in notifier.rate_limit_key


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"bot_token": "not-a-token"}, "is not a bot token"),
        ({"bot_token": f"https://api.telegram.org/bot{TOKEN}/sendMessage"}, "the token alone, not the URL"),
        ({"chat_id": "my group"}, "must be a number"),
        ({"api_url": "api.telegram.org"}, "must be a URL"),
    ],
)
def test_config_errors_name_the_key_and_never_echo_the_token(
    config_for: Callable[..., Config],
    extra: dict[str, Any],
    problem: str,
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for(tg_yaml(**extra))
    text = str(caught.value)
    assert "receivers[0].telegram_configs[0]." in text and problem in text
    assert SECRET_HALF not in text


def test_bot_token_file(config_for: Callable[..., Config], tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = config_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        telegram_configs: [{{bot_token_file: {tmp_path / "token"}, chat_id: 1}}]
    """)
    assert TOKEN in config.secrets() and SECRET_HALF in config.secrets()


@pytest.mark.parametrize(
    ("setting", "firing", "resolved"), [(False, None, None), (True, True, True), ("resolved", None, True)]
)
def test_body_thread_and_silent_resolved_messages(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    setting: Any,
    firing: Any,
    resolved: Any,
) -> None:
    notifier = notifier_for(tg_yaml(message_thread_id=7, disable_notification=setting))
    assert isinstance(notifier, TelegramNotifier)
    [body] = notifier.render_parts(make_message())
    assert body["parse_mode"] == "HTML" and body["message_thread_id"] == 7
    assert body["chat_id"] == -1001234567890
    assert body.get("disable_notification") is firing
    [done] = notifier.render_parts(make_message(make_notification(status="resolved")))
    assert done.get("disable_notification") is resolved


async def test_api_url_override_for_a_self_hosted_bot_api(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(f"http://127.0.0.1:8081/bot{TOKEN}/sendMessage").respond(json=OK)
    await notifier_for(tg_yaml(api_url="http://127.0.0.1:8081/")).send(make_message())
    assert route.call_count == 1


# -- HTML and its length --------------------------------------------------------------

HOSTILE = [
    "<b>bold</b>",
    "</code></b>",
    "a & b &amp; &lt;",
    '<a href="javascript:alert(1)">x</a>',
    "@all <at>everyone</at>",
    "**md** [link](http://evil)",
    "\"quoted\" 'single'",
    "emoji 🔥 and 中文",
    "<tg-spoiler>",
    "&#128293;",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_labels_and_annotations_cannot_break_entities(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_alert: Callable[..., Alert],
    make_notification: Callable[..., Notification],
    value: str,
) -> None:
    alert = make_alert("Injected", summary=value, description=value)
    alert.labels["team"] = value
    n = make_notification(alerts=[alert], group_labels={"alertname": value})
    notifier = notifier_for(tg_yaml())
    assert isinstance(notifier, TelegramNotifier)
    [text] = notifier.render_texts(make_message(n))
    parsed = Entities(text)
    assert parsed.problems == []
    assert value in parsed.visible  # shown as written
    assert f"team={value}" in parsed.visible
    # Graph, the alert's silence and the group's silence: no link from the value.
    assert parsed.tags.count("a") == 3
    assert visible_length(text) == parsed.utf16


def test_a_broken_user_template_is_sent_as_plain_text(
    tmp_path: Path,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    (tmp_path / "telegram.html.j2").write_text("<b>{{ status }} <oops> & more")
    notifier = notifier_for(tg_yaml(f"templates: ['{tmp_path}/*.j2']\nroute: {{receiver: oncall}}"))
    assert isinstance(notifier, TelegramNotifier)
    [text] = notifier.render_texts(make_message())
    parsed = Entities(text)
    assert parsed.problems == [] and parsed.tags == []
    assert parsed.visible == "<b>firing <oops> & more"


alert_text = st.lists(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    | st.sampled_from(["<", ">", "&", "&amp;", "🔥", "中", "\n", "</b>", '"', "𝔘"]),
    max_size=400,
).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(summaries=st.lists(alert_text, min_size=1, max_size=30), truncated=st.integers(0, 3))
def test_every_part_is_within_4096_and_valid_and_alerts_are_once_in_order(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_alert: Callable[..., Alert],
    make_notification: Callable[..., Notification],
    summaries: list[str],
    truncated: int,
) -> None:
    alerts = [
        make_alert(f"Alert{i:02d}X", summary=summary, description=summary * 3)
        for i, summary in enumerate(summaries)
    ]
    n = make_notification(alerts=alerts, truncated_alerts=truncated)
    notifier = notifier_for(tg_yaml())
    assert isinstance(notifier, TelegramNotifier)
    parts = notifier.render_texts(make_message(n))
    seen: list[str] = []
    for index, text in enumerate(parts, 1):
        parsed = Entities(text)
        assert parsed.problems == []
        assert parsed.utf16 <= TEXT_LIMIT
        assert visible_length(text) == parsed.utf16
        if len(parts) > 1:
            assert f"({index}/{len(parts)})" in parsed.visible.split("\n")[0]
        assert f"[FIRING:{len(alerts)}]" in parsed.visible  # every header counts the group
        seen += [f"Alert{i:02d}X" for i in range(len(alerts)) if f"Alert{i:02d}X" in parsed.visible]
    assert seen == [f"Alert{i:02d}X" for i in range(len(alerts))]
    assert ("more alert" in Entities(parts[-1]).visible) == bool(truncated)


@given(
    st.lists(
        st.characters(codec="utf-8", exclude_categories=("Cs",))
        | st.sampled_from(["<b>", "</b>", "<i>", "</i>", "&amp;", "&lt;", "🔥"]),
        max_size=300,
    ).map("".join),
    st.integers(8, 200),
)
def test_cut_html_stays_valid_and_within_the_budget(source: str, budget: int) -> None:
    import html

    # A valid Telegram HTML text: escaped characters inside balanced tags.
    text = "<b>" + html.escape(source, quote=False) + "</b><i>" + html.escape(source) + "</i>"
    cut = cut_html(text, budget)
    parsed = Entities(cut)
    assert parsed.problems == []
    assert parsed.utf16 <= max(budget, 0) or cut == text
    assert visible_length(cut) == parsed.utf16


# -- a storm stays within 1 per second and 20 per minute ------------------------------


async def test_a_storm_of_100_stays_within_the_group_limits(
    respx_mock: respx.MockRouter,
    relay_factory: Callable[..., Any],
) -> None:
    time = VirtualTime()

    def throttled(wait: float) -> httpx.Response:
        return error(429, f"Too Many Requests: retry after {int(wait) + 1}", retry_after=int(wait) + 1)

    vendor = EnforcingVendor(
        time, [(1, 1.0), (20, 60.0)], ok=lambda _: httpx.Response(200, json=OK), throttled=throttled
    )
    respx_mock.post(SEND).mock(side_effect=vendor)
    config = tg_yaml("route: {receiver: oncall, group_wait: 0s}")
    async with relay_factory(config) as relay:
        await storm(relay, time)
        jobs = await relay.jobs()
    assert vendor.refused == []
    assert len(vendor.accepted) == 100
    assert [job.status for job in jobs] == ["delivered"] * 100
    assert time.now >= 4 * 60  # 20 a minute: the last 80 waited four windows


# -- the token never leaks ------------------------------------------------------------


async def test_the_token_never_leaks_anywhere(
    respx_mock: respx.MockRouter,
    relay_factory: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from relay.obs.logs import setup_logging
    from tests.helpers.webhooks import alert, webhook

    echo = f"Not Found: /bot{TOKEN}/sendMessage {SECRET_HALF}"
    respx_mock.post(SEND).mock(
        side_effect=[
            error(404, echo),
            error(429, echo, retry_after=1),
            httpx.Response(502, text=SEND),
            httpx.ConnectError(f"cannot connect to {SEND}"),
            httpx.ReadTimeout(SEND),
        ]
    )
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("json", "debug")  # relay serve --log-level debug
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # and httpx's request lines on
    caplog.set_level(logging.DEBUG)
    try:
        config = tg_yaml("route: {receiver: oncall, group_wait: 0s}")
        async with relay_factory(config) as relay:
            for i in range(5):
                await relay.post(webhook(alert(f"Leak{i}"), group_key=f"{{}}:{{n={i}}}"))
            assert await relay.deliver_all() == 5
            outputs = [
                (await relay.client.get("/api/v1/status")).text,
                (await relay.client.get("/metrics")).text,
                (await relay.client.get("/api/v1/notifications")).text,
            ]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(logging.WARNING)
    logged = capsys.readouterr().err
    assert "HTTP Request: POST" in logged  # httpx's own lines were written...
    assert "/bot123456789:<redacted>/sendMessage" in logged  # ... redacted
    for text in [*outputs, logged]:
        assert SECRET_HALF not in text
    assert "telegram_404" in outputs[2]
    assert leaks((SECRET_HALF,), [], caplog) == []


# -- relay render and relay test-alert -------------------------------------------------


def test_render_and_test_alert(tmp_path: Path) -> None:
    with Sink(Answer(body=OK)) as telegram:
        config = tmp_path / "relay.yml"
        config.write_text(tg_yaml(api_url=telegram.url))
        runner = CliRunner()
        rendered = runner.invoke(
            main, ["render", "--channel", "telegram", "--receiver", "oncall", "--config", str(config)]
        )
        assert rendered.exit_code == 0, rendered.output
        assert rendered.output.startswith("telegram: 1 message, characters ")
        assert "limit 4096" in rendered.output and SECRET_HALF not in rendered.output
        sent = runner.invoke(main, ["test-alert", "--receiver", "oncall", "--config", str(config)])
        assert sent.exit_code == 0, sent.output
        assert sent.stdout.splitlines() == ["oncall/telegram/0: ok"]
    [request] = telegram.received
    assert request.path == f"/bot{TOKEN}/sendMessage"
    body = request.json()
    assert body["parse_mode"] == "HTML" and "RelayTestAlert" in Entities(body["text"]).visible


def test_a_long_notification_is_split_into_marked_parts(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_alert: Callable[..., Alert],
    make_notification: Callable[..., Notification],
) -> None:
    alerts = [make_alert(f"Alert{i:02d}X", description="磁盘 🔥 " * 150) for i in range(12)]
    notifier = notifier_for(tg_yaml())
    assert isinstance(notifier, TelegramNotifier)
    parts = notifier.render_texts(make_message(make_notification(alerts=alerts)))
    assert len(parts) >= 3
    assert notifier.messages_for(make_message(make_notification(alerts=alerts))) == len(parts)
    for index, text in enumerate(parts, 1):
        first = Entities(text).visible.split("\n")[0]
        assert first.endswith(f"({index}/{len(parts)})") and "[FIRING:12]" in first
        assert Entities(text).utf16 <= TEXT_LIMIT
