"""WebhookNotifier with respx: status mapping, body, headers, signature, secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
import respx

from relay import __version__
from relay.channels.base import Message, Notifier
from relay.channels.webhook import WebhookNotifier
from relay.core.alerts import Notification
from relay.core.errors import PermanentError, RetryableError
from relay.obs.metrics import Metrics

URL = "https://hooks.example.com/alerts"
SECRET_URL = "https://am:url-Pa55word@hooks.example.com/alerts?token=tok-0123456789abcdef"
HMAC_SECRET = "hmac-secret-0123456789"


def webhook_yaml(url: str = URL, **extra: str) -> str:
    lines = "".join(f"\n            {key}: {value}" for key, value in extra.items())
    return f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        webhook_configs:
          - url: '{url}'{lines}
    """


def verify(
    secret: bytes, headers: Mapping[str, str], body: bytes, tolerance: int = 300, now: float | None = None
) -> bool:
    """The receiver-side check, exactly as docs/channels.md shows it."""
    timestamp = headers["X-Relay-Timestamp"]
    signature = headers["X-Relay-Signature"]
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        return False  # too old (or from the future): a replay
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (httpx.Response(200, text="ok"), None, None),
        (httpx.Response(201, json={"id": 1}), None, None),
        (httpx.Response(204), None, None),
        (httpx.Response(400, text="bad payload"), PermanentError, "http_400"),
        (httpx.Response(401, text="who are you"), PermanentError, "http_401"),
        (httpx.Response(404, text="no such hook"), PermanentError, "http_404"),
        (httpx.Response(408, text="slow"), RetryableError, "http_408"),
        (httpx.Response(425, text="too early"), RetryableError, "http_425"),
        (httpx.Response(429, text="slow down"), RetryableError, "http_429"),
        (httpx.Response(500, text="boom"), RetryableError, "http_500"),
        (httpx.Response(502, text="bad gateway"), RetryableError, "http_502"),
        (httpx.Response(503, text="maintenance"), RetryableError, "http_503"),
        (httpx.ReadTimeout("timed out"), RetryableError, "timeout"),
        (httpx.ConnectTimeout("connect timed out"), RetryableError, "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), RetryableError, "connect"),
        (httpx.RemoteProtocolError("peer closed connection"), RetryableError, "transport"),
    ],
    ids=lambda v: getattr(v, "status_code", None) or getattr(v, "__name__", None) or type(v).__name__,
)
async def test_outcome_table(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Any,
    outcome: type[Exception] | None,
    reason: str | None,
) -> None:
    route = respx_mock.post(URL)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    notifier = notifier_for(webhook_yaml())

    if outcome is None:
        delivery = await notifier.send(make_message())
        assert delivery.data["status"] == answer.status_code
        return
    with pytest.raises(outcome) as caught:
        await notifier.send(make_message())
    assert getattr(caught.value, "reason", None) == reason
    if isinstance(answer, httpx.Response):
        assert answer.text in str(caught.value)  # the downstream's own words


@pytest.mark.parametrize(
    "answer", [httpx.Response(400, text="bad"), httpx.ConnectError("refused")], ids=["400", "connect"]
)
async def test_a_failed_post_carries_the_body_as_sent(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Any,
) -> None:
    """The delivery log keeps what a failed attempt posted: a dead notification's page
    shows the body the destination refused."""
    route = respx_mock.post(URL)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    with pytest.raises((PermanentError, RetryableError)) as caught:
        await notifier_for(webhook_yaml()).send(make_message())
    assert caught.value.sent == [route.calls.last.request.content.decode()]
    assert json.loads(caught.value.sent[0])["status"] == "firing"


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    status: int,
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(status, headers={"Retry-After": "7"}))
    with pytest.raises(RetryableError) as caught:
        await notifier_for(webhook_yaml()).send(make_message())
    assert caught.value.retry_after == 7


async def test_error_message_is_the_first_200_chars_of_the_body(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(500, text="x" * 199 + "yz" + "q" * 50))
    with pytest.raises(RetryableError) as caught:
        await notifier_for(webhook_yaml()).send(make_message())
    assert "x" * 199 + "y" in caught.value.message
    assert "z" not in caught.value.message.removeprefix("HTTP 500 Internal Server Error")


async def test_other_redirects_are_permanent(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(301, headers={"Location": "/x"}))
    with pytest.raises(PermanentError) as caught:
        await notifier_for(webhook_yaml()).send(make_message())
    assert caught.value.reason == "http_301"


async def test_default_body_is_v4_plus_relay_object(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    notification = make_notification(reason="repeat_interval")
    message = make_message(notification, integration="oncall/webhook/0")

    await notifier_for(webhook_yaml()).send(message)

    request = route.calls.last.request
    body = json.loads(request.content)
    relay = body.pop("relay")
    assert body == notification.to_v4()
    assert relay == {
        "receiver": "oncall",
        "group_key": notification.group_key,
        "notification_reason": "repeat_interval",
        "idempotency_key": message.job_id,
        "integration": "oncall/webhook/0",
        "silence_url": notification.silence_url,
    }
    assert relay["silence_url"].startswith("http")  # the notification has an externalURL
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"relay/{__version__}"
    assert request.headers["Idempotency-Key"] == message.job_id
    assert "X-Relay-Signature" not in request.headers
    assert "Authorization" not in request.headers


async def test_signature_verifies_with_the_documented_recipe(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(204))
    notifier = notifier_for(webhook_yaml(hmac_secret=HMAC_SECRET))
    assert isinstance(notifier, WebhookNotifier)
    notifier.clock = lambda: 1_700_000_000.9

    await notifier.send(make_message())

    request = route.calls.last.request
    headers, body = request.headers, request.content
    assert headers["X-Relay-Timestamp"] == "1700000000"
    assert headers["X-Relay-Signature"].startswith("sha256=")
    assert verify(HMAC_SECRET.encode(), headers, body, now=1_700_000_100)
    # ... and it can fail: another secret, a changed body, a stale timestamp.
    assert not verify(b"another secret", headers, body, now=1_700_000_100)
    assert not verify(HMAC_SECRET.encode(), headers, body + b" ", now=1_700_000_100)
    assert not verify(HMAC_SECRET.encode(), headers, body, now=1_700_000_000 + 301)


async def test_basic_auth_header(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    notifier = notifier_for(webhook_yaml(basic_auth="{username: am, password: 'p@ss w0rd'}"))

    await notifier.send(make_message())

    expected = base64.b64encode(b"am:p@ss w0rd").decode()
    assert route.calls.last.request.headers["Authorization"] == f"Basic {expected}"


async def test_bearer_auth_header_and_custom_headers(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    notifier = notifier_for(
        webhook_yaml(
            bearer_token="tkn-abcdef123456",
            headers="{X-Team: db, Idempotency-Key: mine}",
        )
    )

    await notifier.send(make_message(job_id="job-42"))

    headers = route.calls.last.request.headers
    assert headers["Authorization"] == "Bearer tkn-abcdef123456"
    assert headers["X-Team"] == "db"
    assert headers["Idempotency-Key"] == "job-42"  # relay's own header wins


async def test_max_alerts_cuts_and_counts(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    notification = make_notification(count=5, truncated_alerts=3)

    await notifier_for(webhook_yaml(max_alerts="2")).send(make_message(notification))

    body = json.loads(route.calls.last.request.content)
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["Alert0", "Alert1"]
    assert body["truncatedAlerts"] == 3 + 3


async def test_max_alerts_above_the_count_changes_nothing(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    await notifier_for(webhook_yaml(max_alerts="10")).send(make_message())
    body = json.loads(route.calls.last.request.content)
    assert len(body["alerts"]) == 2
    assert body["truncatedAlerts"] == 0


async def test_body_template_json_is_sent_as_json(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    template = (
        """'{"text": "{{ status }}: {{ alerts | length }} alerts", """
        """"key": "{{ relay.idempotency_key }}"}'"""
    )
    notifier = notifier_for(webhook_yaml(body_template=template, hmac_secret=HMAC_SECRET))

    await notifier.send(make_message(job_id="job-7"))

    request = route.calls.last.request
    assert json.loads(request.content) == {"text": "firing: 2 alerts", "key": "job-7"}
    assert request.headers["Content-Type"] == "application/json"
    assert verify(HMAC_SECRET.encode(), request.headers, request.content)


async def test_body_template_text_is_sent_as_text(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    notifier = notifier_for(webhook_yaml(body_template="'{{ status | upper }} {{ receiver }}'"))

    await notifier.send(make_message())

    request = route.calls.last.request
    assert request.content == b"FIRING oncall"
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_broken_body_template_falls_back_to_builtin(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    metrics: Metrics,
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    notifier = notifier_for(webhook_yaml(body_template="'{{ nope.nothing.here }}'"))

    await notifier.send(make_message())

    request = route.calls.last.request
    assert request.content.strip()
    assert b"nope" not in request.content
    assert metrics.template_errors.labels(template="webhook.body")._value.get() == 1


async def test_secrets_never_in_errors_or_logs(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that echoes the URL, the secret and the token back still leaks nothing."""
    caplog.set_level(logging.DEBUG)
    echo = f"bad request to {SECRET_URL} signed with {HMAC_SECRET}; token tok-0123456789abcdef"
    respx_mock.post(URL).mock(
        side_effect=[
            httpx.Response(400, text=echo),
            httpx.ConnectError(f"cannot reach {SECRET_URL}"),
            httpx.ReadTimeout(f"read from {SECRET_URL} timed out"),
        ]
    )
    notifier = notifier_for(webhook_yaml(SECRET_URL, hmac_secret=HMAC_SECRET))

    errors: list[Exception] = []
    for _ in range(3):
        with pytest.raises((PermanentError, RetryableError)) as caught:
            await notifier.send(make_message())
        errors.append(caught.value)

    secrets = ("url-Pa55word", "tok-0123456789abcdef", HMAC_SECRET)
    for error in errors:
        for secret in secrets:
            assert secret not in str(error)
        assert "<redacted>" in str(error)
    relay_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("relay"))
    for secret in secrets:
        assert secret not in relay_logs


async def test_url_credentials_are_sent_but_not_kept_in_messages(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    await notifier_for(webhook_yaml(SECRET_URL)).send(make_message())
    request = route.calls.last.request
    assert request.url.params["token"] == "tok-0123456789abcdef"
    expected = base64.b64encode(b"am:url-Pa55word").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


# The notifier parses its URL once and hands call() the parsed URL; httpx must build the
# same request from it as from the text, whatever the URL holds.
ODD_URLS = [
    URL,
    SECRET_URL,
    "http://127.0.0.1:8080/hook?a=1&b=two%20words#frag",
    "http://[::1]:9000/alerts/%E5%91%8A%E8%AD%A6?q=%2F",
    "https://用户:密码@例子.测试/告警?级别=严重",
    "http://host/path with space/?x=a+b&y=",
    "HTTPS://Example.COM:443/Upper/Case?K=V",
    "http://h:80/a/../b/./c?%zz=1",
]


@pytest.mark.parametrize("url", ODD_URLS)
async def test_a_url_parsed_once_builds_the_request_its_text_builds(url: str) -> None:
    async with httpx.AsyncClient(headers={"User-Agent": "relay-test"}) as http:
        kwargs: dict[str, Any] = {"content": b"{}", "headers": {"X-A": "1"}, "timeout": 5}
        from_text = http.build_request("POST", url, **kwargs)
        from_parsed = http.build_request("POST", httpx.URL(url), **kwargs)
    assert from_parsed.url == from_text.url
    assert str(from_parsed.url) == str(from_text.url)
    assert from_parsed.url.raw_path == from_text.url.raw_path
    assert from_parsed.url.userinfo == from_text.url.userinfo
    assert from_parsed.headers.multi_items() == from_text.headers.multi_items()
    assert from_parsed.extensions == from_text.extensions


async def test_the_notifier_sends_to_the_url_as_configured(
    respx_mock: respx.MockRouter,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    url = "http://127.0.0.1:8080/hook?a=1&b=two%20words"
    route = respx_mock.post(url).mock(return_value=httpx.Response(200))
    await notifier_for(webhook_yaml(url)).send(make_message())
    assert str(route.calls.last.request.url) == url
