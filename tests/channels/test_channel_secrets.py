"""Slack and WeCom secrets (webhook URL, bot token, robot key, app secret and access token)
never appear in the errors the notifiers raise nor in log output, even when the far side
echoes them back or the connection fails."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import respx

from relay.channels.base import Message, Notifier
from relay.channels.wecom import WECOM_API_BASE, WECOM_ROBOT_URL
from relay.channels.wecom_app import WeComAppNotifier
from relay.core.errors import DeliveryError
from tests.helpers.sink import Answer, Sink

HOOK_SECRET = "hookSecretZ9y8x7w6v5u4"
HOOK_PATH = f"/services/T0AAAAAAA/B0BBBBBBB/{HOOK_SECRET}"
BOT_TOKEN = "xoxb-1111-2222-botTokenSecretQ1w2e3"
PLAIN_TOKEN = "plainTokenSecret-5r6t7y8u"  # not shaped like xox*-: only exact redaction helps
WECOM_KEY = "wecomKeySecret-a1b2c3d4e5f6"
APP_SECRET = "appSecretValue-g7h8i9j0k1"
ACCESS_TOKEN = "accessTokenValue-l2m3n4o5"


@pytest.fixture(autouse=True)
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # Every logger at DEBUG, the SDKs' included: a secret must not leak at any level.
    caplog.set_level(logging.DEBUG)
    WeComAppNotifier.shared_tokens.clear()
    yield
    WeComAppNotifier.shared_tokens.clear()


def leaks(
    secrets: tuple[str, ...], errors: list[DeliveryError], caplog: pytest.LogCaptureFixture
) -> list[str]:
    """Every place a secret shows up: in an error (str, repr, message) or a log record.

    httpx's own "HTTP Request: POST <url>" line is left to
    test_http_client_request_lines_carry_no_secrets below: whether it is written at all
    is decided by relay's logging setup, not by a notifier."""
    found = []
    for error in errors:
        for text in (str(error), repr(error), error.message):
            found += [f"error {error.reason}: {text}" for s in secrets if s in text]
    for record in caplog.records:
        if record.name == "httpx" and record.msg.startswith("HTTP Request:"):
            continue
        text = record.getMessage() + (str(record.exc_info) if record.exc_info else "")
        found += [f"log {record.name}: {text}" for s in secrets if s in text]
    return found


async def failures(notifier: Notifier, message: Message, count: int) -> list[DeliveryError]:
    errors = []
    for _ in range(count):
        with pytest.raises(DeliveryError) as caught:
            await notifier.send(message)
        errors.append(caught.value)
    return errors


# -- Slack ---------------------------------------------------------------------------


def slack_answer(status: int, body: str | dict[str, Any], **headers: str) -> Answer:
    kind = "application/json" if isinstance(body, dict) else "text/plain"
    return Answer(status, body, {"Content-Type": kind, **headers})


async def test_slack_webhook_url_never_leaks(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    echo = f"no hook at {HOOK_PATH} ({HOOK_SECRET})"
    with Sink() as slack:
        url = f"{slack.url}{HOOK_PATH}"
        slack.answer(
            slack_answer(400, echo),
            slack_answer(500, f"<p>{url}</p>"),
            slack_answer(429, echo, **{"Retry-After": "1"}),
            Answer(200, b"ok", delay=2.5),
        )
        notifier = notifier_for(f"""
        delivery: {{timeout: 1s}}
        route: {{receiver: oncall}}
        receivers:
          - name: oncall
            slack_configs: [{{api_url: '{url}'}}]
        """)
        errors = await failures(notifier, make_message(), 4)
    # The port is closed now: connection refused, with the URL at hand.
    errors += await failures(notifier, make_message(), 1)

    assert [e.reason for e in errors] == ["http_400", "http_500", "http_429", "timeout", "connect"]
    assert leaks((HOOK_SECRET,), errors, caplog) == []
    assert "<redacted>" in errors[0].message  # the echo was kept, the secret was not


@pytest.mark.parametrize("token", [BOT_TOKEN, PLAIN_TOKEN])
async def test_slack_token_never_leaks(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
    token: str,
) -> None:
    with Sink() as slack:
        slack.answer(
            slack_answer(
                200,
                {
                    "ok": False,
                    "error": "invalid_auth",
                    "response_metadata": {"messages": [f"bad token {token}"]},
                },
            ),
            slack_answer(500, f"Authorization: Bearer {token}"),
            slack_answer(200, {"ok": False, "error": "ratelimited"}),
        )
        notifier = notifier_for(f"""
        route: {{receiver: oncall}}
        receivers:
          - name: oncall
            slack_configs:
              - {{api_url: '{slack.url}/api/', token: '{token}', channel: '#alerts',
                  update_on_resolve: true}}
        """)
        errors = await failures(notifier, make_message(), 3)
    errors += await failures(notifier, make_message(), 1)  # connection refused

    assert [e.reason for e in errors] == [
        "slack_invalid_auth",
        "http_500",
        "slack_ratelimited",
        "connect",
    ]
    assert leaks((token, token.split("-")[-1]), errors, caplog) == []
    assert "bad token <redacted>" in errors[0].message


# -- WeCom ---------------------------------------------------------------------------


async def test_wecom_key_never_leaks(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"{WECOM_ROBOT_URL}?key={WECOM_KEY}"
    respx_mock.post(WECOM_ROBOT_URL, params={"key": WECOM_KEY}).mock(
        side_effect=[
            httpx.Response(
                200, json={"errcode": 93000, "errmsg": f"invalid webhook url {url}, hint: [key {WECOM_KEY}]"}
            ),
            httpx.Response(502, text=f"upstream {url} failed"),
            httpx.Response(200, text=f"<html>{WECOM_KEY}</html>"),
            httpx.ConnectError(f"cannot connect to {url}"),
            httpx.ReadTimeout(f"reading {url} timed out"),
        ]
    )
    for yaml_key in ("key", "webhook_url"):
        value = WECOM_KEY if yaml_key == "key" else url
        notifier = notifier_for(f"""
        route: {{receiver: oncall}}
        receivers:
          - name: oncall
            wecom_configs: [{{{yaml_key}: '{value}'}}]
        """)
        errors = await failures(notifier, make_message(), 5 if yaml_key == "key" else 0)
        if yaml_key == "key":
            assert [e.reason for e in errors] == [
                "errcode_93000",
                "http_502",
                "bad_response",
                "connect",
                "timeout",
            ]
            assert leaks((WECOM_KEY,), errors, caplog) == []
            assert "hint: [key <redacted>]" in errors[0].message


async def test_wecom_key_given_as_webhook_url_never_leaks(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A proxy in front of WeCom with the key in the path rather than the query.
    url = f"http://127.0.0.1:9/wecom/{WECOM_KEY}/send"
    respx_mock.post(url).mock(
        side_effect=[
            httpx.Response(200, json={"errcode": -1, "errmsg": f"busy: {url}"}),
            httpx.ConnectError(f"cannot connect to {url}"),
        ]
    )
    notifier = notifier_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        wecom_configs: [{{webhook_url: '{url}'}}]
    """)
    errors = await failures(notifier, make_message(), 2)
    assert [e.reason for e in errors] == ["errcode_-1", "connect"]
    assert leaks((WECOM_KEY,), errors, caplog) == []


async def test_wecom_app_secret_and_token_never_leak(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    gettoken = respx_mock.get(f"{WECOM_API_BASE}gettoken").mock(
        side_effect=[
            httpx.Response(200, json={"errcode": 40001, "errmsg": f"invalid secret {APP_SECRET}"}),
            httpx.ConnectError(f"cannot connect: corpsecret={APP_SECRET}"),
            httpx.Response(200, json={"errcode": 0, "access_token": ACCESS_TOKEN, "expires_in": 7200}),
        ]
    )
    respx_mock.post(f"{WECOM_API_BASE}message/send").mock(
        side_effect=[
            httpx.Response(
                200,
                json={"errcode": 81013, "errmsg": f"token {ACCESS_TOKEN} ok, user & party & tag all invalid"},
            ),
            httpx.Response(503, text=f"access_token={ACCESS_TOKEN} secret {APP_SECRET}"),
        ]
    )
    notifier = notifier_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        wecom_app_configs: [{{corp_id: ww01, agent_id: 1000002, api_secret: '{APP_SECRET}'}}]
    """)

    errors = await failures(notifier, make_message(), 4)

    assert [e.reason for e in errors] == ["errcode_40001", "connect", "errcode_81013", "http_503"]
    assert gettoken.call_count == 3
    assert leaks((APP_SECRET, ACCESS_TOKEN), errors, caplog) == []


# -- DingTalk ------------------------------------------------------------------------

DINGTALK_TOKEN = "dingTalkTokenSecret-0a1b2c3d4e5f"
DINGTALK_SECRET = "SECdingTalkSignSecret-9z8y7x6w5v"


def dingtalk_echo(request: httpx.Request) -> httpx.Response:
    """DingTalk's answers, each quoting the request URL (token, timestamp and sign)."""
    url = str(request.url)
    answers = [
        httpx.Response(200, json={"errcode": 310000, "errmsg": f"sign not match, url {url}"}),
        httpx.Response(502, text=f"upstream {url} failed"),
        httpx.Response(200, text=f"<html>{url} {DINGTALK_TOKEN}</html>"),
        httpx.Response(200, json={"errcode": 130101, "errmsg": f"too fast: {url}"}),
    ]
    dingtalk_echo.calls += 1  # type: ignore[attr-defined]
    if dingtalk_echo.calls > len(answers):  # type: ignore[attr-defined]
        raise httpx.ConnectError(f"cannot connect to {url}")
    return answers[dingtalk_echo.calls - 1]  # type: ignore[attr-defined]


@pytest.mark.parametrize("address", ["access_token", "webhook_url"])
async def test_dingtalk_token_secret_and_sign_never_leak(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
    address: str,
) -> None:
    from relay.channels.dingtalk import DINGTALK_API_URL

    dingtalk_echo.calls = 0  # type: ignore[attr-defined]
    route = respx_mock.post(DINGTALK_API_URL).mock(side_effect=dingtalk_echo)
    value = (
        DINGTALK_TOKEN if address == "access_token" else f"{DINGTALK_API_URL}?access_token={DINGTALK_TOKEN}"
    )
    notifier = notifier_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        dingtalk_configs: [{{{address}: '{value}', secret: '{DINGTALK_SECRET}'}}]
    """)
    errors = await failures(notifier, make_message(), 5)

    assert [e.reason for e in errors] == [
        "errcode_310000",
        "http_502",
        "bad_response",
        "errcode_130101",
        "connect",
    ]
    signs = [dict(call.request.url.params)["sign"] for call in route.calls]
    assert len(signs) == 5 and all(signs)
    assert leaks((DINGTALK_TOKEN, DINGTALK_SECRET, *signs), errors, caplog) == []
    assert "sign not match, url" in errors[0].message  # the vendor's words stay


# -- relay's logging setup and the shared HTTP client --------------------------------


async def test_http_client_request_lines_carry_no_secrets(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from relay.obs.logs import setup_logging

    respx_mock.post(WECOM_ROBOT_URL, params={"key": WECOM_KEY}).respond(
        json={"errcode": 93000, "errmsg": "invalid webhook url"}
    )
    notifier = notifier_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        wecom_configs: [{{key: '{WECOM_KEY}'}}]
    """)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("text", "info")  # what `relay serve` does by default
    try:
        await failures(notifier, make_message(), 1)
        logging.getLogger("relay.test").info("delivery failed")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    logged = capsys.readouterr().err
    assert "delivery failed" in logged  # the capture works...
    assert WECOM_KEY not in logged  # ... and the key is not in it


# -- a destination that echoes the request's headers ----------------------------------

BASIC_USER = "relay-bot"
BASIC_PASSWORD = "basicPass+word/9&z"  # '+', '/', '&': its URL-encoded form differs
ECHO_CONFIG = f"""
route: {{receiver: hook, group_wait: 0s}}
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:9/echo
        basic_auth: {{username: {BASIC_USER}, password: '{BASIC_PASSWORD}'}}
"""


def echo_headers(request: httpx.Request) -> httpx.Response:
    """400 with the request's headers in the body, first as a proxy prints them, then
    URL-encoded as a redirect target would carry them, then as JSON."""
    auth = request.headers["Authorization"]
    return httpx.Response(
        400,
        text=(
            f"bad request; you sent Authorization: {auth} "
            f"next=/login?auth={quote(auth, safe='')}&pw={quote_plus(BASIC_PASSWORD)} "
            f"{json.dumps(dict(request.headers))}"
        ),
    )


async def test_basic_auth_echoed_by_the_destination_never_leaks(
    respx_mock: respx.MockRouter,
    relay_factory: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.helpers.webhooks import alert, webhook

    pair = f"{BASIC_USER}:{BASIC_PASSWORD}".encode()
    encoded = base64.b64encode(pair).decode()
    forbidden = {
        "password": BASIC_PASSWORD,
        "url-encoded password": quote_plus(BASIC_PASSWORD),
        "base64(user:password)": encoded,
        "base64 without padding": encoded.rstrip("="),
        "URL-encoded base64": quote(encoded, safe=""),
        "URL-safe base64": base64.urlsafe_b64encode(pair).decode(),
    }
    route = respx_mock.post("http://127.0.0.1:9/echo").mock(side_effect=echo_headers)
    async with relay_factory(ECHO_CONFIG) as relay:
        await relay.post(webhook(alert()))
        await relay.flush()
        assert await relay.deliver_all() == 1
        listed = (await relay.client.get("/api/v1/notifications")).json()["notifications"]

    assert route.call_count == 1
    assert route.calls[0].request.headers["Authorization"] == f"Basic {encoded}"  # it was sent
    [job] = listed
    errors = [job["last_error"], *(a["error"] for a in job["attempts"])]
    assert errors[0].startswith("webhook: HTTP 400 Bad Request: bad request; you sent Authorization:")
    logged = [" ".join(str(v) for v in vars(r).values()) for r in caplog.records]
    assert any("delivery failed" in line for line in logged)  # the failure was logged
    leaked = [
        f"{what} in {place}"
        for what, value in forbidden.items()
        for place, text in (("error", " ".join(errors)), ("log", "\n".join(logged)))
        if value in text
    ]
    assert leaked == []


# -- Feishu ---------------------------------------------------------------------------

FEISHU_TOKEN = "feishuHookToken-7c1e2d3f4a5b"
FEISHU_SECRET = "feishuSignSecret-6b7c8d9e"
FEISHU_URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}"


async def test_feishu_hook_token_and_secret_never_leak(
    respx_mock: respx.MockRouter,
    relay_factory: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bot echoes the URL, its token and the secret in its answers (as a proxy's
    error page might): none of them reaches an error, a log line, the delivery log,
    /api/v1/status or /metrics."""
    from tests.helpers.webhooks import alert, webhook

    echo = f"hook {FEISHU_URL} token {FEISHU_TOKEN} secret {FEISHU_SECRET}"
    route = respx_mock.post(FEISHU_URL).mock(
        side_effect=[
            httpx.Response(503, json={"code": 1500, "msg": f"internal error: {echo}"}),
            httpx.Response(502, text=echo),
            httpx.Response(200, json={"code": 19024, "msg": f"Key Words Not Found: {echo}"}),
        ]
    )
    config = f"""
    route: {{receiver: bot, group_wait: 0s}}
    receivers:
      - name: bot
        feishu_configs: [{{webhook_url: '{FEISHU_URL}', secret: '{FEISHU_SECRET}'}}]
    """
    async with relay_factory(config) as relay:
        await relay.post(webhook(alert()))
        await relay.flush()
        for _ in range(3):
            assert await relay.deliver_all() == 1
            job = (await relay.jobs())[0]
            if job.next_attempt_at:
                relay.clock.set(job.next_attempt_at)
        listed = (await relay.client.get("/api/v1/notifications")).text
        status = (await relay.client.get("/api/v1/status")).text
        metrics = (await relay.client.get("/metrics")).text
    assert route.call_count == 3
    assert "19024" in listed and "<redacted>" in listed  # the echo is kept, redacted
    logged = "\n".join(
        " ".join(str(v) for v in vars(r).values())
        for r in caplog.records
        if not (r.name == "httpx" and r.msg.startswith("HTTP Request:"))
    )
    places = {"delivery log": listed, "status": status, "metrics": metrics, "log": logged}
    leaked = [
        f"{secret} in {place}"
        for secret in (FEISHU_TOKEN, FEISHU_SECRET)
        for place, text in places.items()
        if secret in text
    ]
    assert leaked == []
