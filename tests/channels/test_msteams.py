"""Microsoft Teams (Workflows webhook) with respx: the outcome table, the Adaptive Card,
Markdown that labels cannot break, splitting at 28 KB of JSON, a storm within 4 per
second, and the workflow URL (its sig=) kept out of every output."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.channels.base import Message, Notifier
from relay.channels.msteams import BODY_LIMIT, CARD_TYPE, MSTeamsNotifier
from relay.cli.commands import main
from relay.config import Config
from relay.core.alerts import Alert, Notification
from relay.core.errors import ConfigError, DeliveryError, PermanentError, RetryableError
from relay.core.rates import Rate
from relay.core.text import markdown_escape
from tests.channels.test_channel_secrets import leaks
from tests.helpers.channel_yaml import ROUTE, one_integration
from tests.helpers.sink import Answer, Sink
from tests.helpers.storm import EnforcingVendor, VirtualTime, storm

SIG = "sIgN4tUrE-abcdefghijklmnopqrstu0123456789"
WORKFLOW = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
URL = (
    f"https://prod-12.westeurope.logic.azure.com:443/workflows/{WORKFLOW}/triggers/manual/"
    f"paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
)
ENDPOINT = URL.split("?")[0]


def teams_yaml(top: str = ROUTE, **extra: Any) -> str:
    return one_integration("msteams", {"webhook_url": URL, **extra}, top)


def card(body: dict[str, Any]) -> dict[str, Any]:
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == CARD_TYPE and attachment["contentUrl"] is None
    content: dict[str, Any] = attachment["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    return content


def json_bytes(body: Any) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def unescape(markdown: str) -> str:
    """CommonMark's rule, independently: a backslash before ASCII punctuation is dropped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def unescaped_markup(markdown: str) -> list[str]:
    """Markdown syntax left active: an unescaped *, _, [, ], (, ), <, >, `, ~ or |."""
    return re.findall(r"(?<!\\)(?:\\\\)*([*_\[\]()<>`~|])", markdown)


# -- outcomes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome", "reason", "words"),
    [
        (httpx.Response(202), None, None, ""),
        (httpx.Response(200, text="1"), None, None, ""),
        (
            httpx.Response(
                429, json={"error": {"code": "WorkflowTriggerIsThrottled"}}, headers={"Retry-After": "7"}
            ),
            RetryableError,
            "http_429",
            "Throttled",
        ),
        (
            httpx.Response(
                400,
                json={
                    "error": {
                        "code": "TriggerInputSchemaMismatch",
                        "message": "The input body does not match",
                    }
                },
            ),
            PermanentError,
            "http_400",
            "TriggerInputSchemaMismatch: The input body",
        ),
        (
            httpx.Response(401, json={"error": {"code": "DirectApiAuthorizationRequired"}}),
            PermanentError,
            "http_401",
            "sig=",
        ),
        (
            httpx.Response(403, json={"error": {"code": "AuthorizationFailed"}}),
            PermanentError,
            "http_403",
            "Anyone",
        ),
        (
            httpx.Response(404, json={"error": {"code": "WorkflowNotFound"}}),
            PermanentError,
            "http_404",
            "deleted",
        ),
        (httpx.Response(413, text="Request Entity Too Large"), PermanentError, "http_413", ""),
        (httpx.Response(500, text="oops"), RetryableError, "http_500", ""),
        (httpx.Response(503, headers={"Retry-After": "30"}), RetryableError, "http_503", ""),
        (httpx.ReadTimeout("timed out"), RetryableError, "timeout", ""),
        (httpx.ConnectError("refused"), RetryableError, "connect", ""),
    ],
    ids=["202", "200", "429", "400", "401", "403", "404", "413", "500", "503", "timeout", "connect"],
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
    route = respx_mock.post(ENDPOINT, params={"sig": SIG})
    route.mock(side_effect=answer) if isinstance(answer, Exception) else route.mock(return_value=answer)
    notifier = notifier_for(teams_yaml())
    if outcome is None:
        delivery = await notifier.send(make_message())
        assert len(delivery.sent) == 1
        return
    with pytest.raises(outcome) as caught:
        await notifier.send(make_message())
    error = caught.value
    assert isinstance(error, DeliveryError) and error.reason == reason
    assert words in error.message
    if reason == "http_429":
        assert isinstance(error, RetryableError) and error.throttled and error.retry_after == 7
    if reason == "http_503":
        assert isinstance(error, RetryableError) and error.retry_after == 30


# -- config and the card ---------------------------------------------------------------


def test_rate_limit_is_4_per_second_per_workflow(notifier_for: Callable[..., Notifier]) -> None:
    notifier = notifier_for(teams_yaml())
    assert notifier.rate_limits == (Rate(4, 1.0),)
    assert notifier.rate_limit_key is not None and SIG not in notifier.rate_limit_key


def test_config_errors_and_warnings(config_for: Callable[..., Config], tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for(teams_yaml(webhook_url="prod-12.logic.azure.com/workflows/x?sig=" + SIG))
    assert "msteams_configs[0].webhook_url: must be the workflow's full URL" in str(caught.value)
    assert SIG not in str(caught.value)
    old = config_for(teams_yaml(webhook_url="https://contoso.webhook.office.com/webhookb2/a/b"))
    assert any("connectors are retired" in w for w in old.warnings)
    (tmp_path / "url").write_text(URL + "\n")
    config = config_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        msteams_configs: [{{webhook_url_file: {tmp_path / "url"}}}]
    """)
    assert URL in config.secrets() and SIG in config.secrets() and WORKFLOW in config.secrets()
    assert "2016-06-01" not in config.secrets()  # public parameters are not redacted


def test_the_card(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    alerts = [
        make_alert("DiskFull", runbook_url="https://runbooks.local/disk"),
        make_alert("Gone", "resolved"),
    ]
    n = make_notification(alerts=alerts)
    notifier = notifier_for(teams_yaml())
    assert isinstance(notifier, MSTeamsNotifier)
    [body] = notifier.render_parts(make_message(n))
    content = card(body)
    title, subtitle, first, second = content["body"]
    assert title["text"] == "🔴 [FIRING:1] DiskFull" and title["color"] == "Attention"
    assert subtitle["text"] == "1 firing, 1 resolved"
    heading, facts, links = first["items"]
    assert heading["text"] == "🔴 **DiskFull** · critical" and heading["color"] == "Attention"
    assert [f["title"] for f in facts["facts"]] == ["Summary", "Labels", "Since"]
    assert facts["facts"][1]["value"] == "instance=db-1:9100"
    assert [a["title"] for a in links["actions"]] == ["📈 Graph", "🔕 Silence", "📖 Runbook"]
    assert all(a["type"] == "Action.OpenUrl" for a in links["actions"])
    assert links["actions"][1]["url"].startswith(
        "http://alertmanager.local:9093/#/silences/new?filter=%7Balertname%3D%22DiskFull%22"
    )
    assert second["items"][0]["color"] == "Good"
    assert [a["title"] for a in second["items"][2]["actions"]] == ["📈 Graph"]  # no silence
    resolved = card(
        notifier.render_parts(make_message(make_notification(status="resolved", alerts=[alerts[1]])))[0]
    )
    assert resolved["body"][0]["color"] == "Good"


def test_the_card_in_chinese(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    notifier = notifier_for(teams_yaml(locale="zh-CN"))
    content = card(notifier.render_parts(make_message())[0])  # type: ignore[attr-defined]
    assert content["body"][0]["text"] == "🔴 【告警】DiskFull"
    facts = content["body"][2]["items"][1]["facts"]
    assert [f["title"] for f in facts] == ["摘要", "标签", "开始时间"]
    assert content["body"][2]["items"][2]["actions"][0]["title"] == "📈 查看图表"


HOSTILE = [
    "**bold** _it_",
    "[click](http://evil.example)",
    "<at>everyone</at> @all",
    "- list\n1. item",
    "a\\*b",
    "`code` ~strike~ | pipe",
    "# heading",
    "x\n**Labels: y**",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_labels_and_annotations_cannot_make_markdown(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_alert: Callable[..., Alert],
    make_notification: Callable[..., Notification],
    value: str,
) -> None:
    alert = make_alert(value, summary=value)
    alert.labels["team"] = value
    n = make_notification(alerts=[alert], group_labels={"alertname": value})
    content = card(notifier_for(teams_yaml()).render_parts(make_message(n))[0])  # type: ignore[attr-defined]
    flat = " ".join(value.splitlines())
    title = content["body"][0]["text"]
    assert unescape(title).endswith(flat) and unescaped_markup(title.split("] ", 1)[1]) == []
    heading, facts, _ = content["body"][2]["items"]
    assert unescape(heading["text"]).startswith(f"🔴 **{flat}**")
    by_title = {f["title"]: f["value"] for f in facts["facts"]}
    assert list(by_title) == ["Summary", "Labels", "Since"]  # a value cannot add a fact
    assert unescape(by_title["Summary"]) == flat and unescaped_markup(by_title["Summary"]) == []
    assert f"team={flat}" in unescape(by_title["Labels"])


@given(st.text(max_size=200))
def test_markdown_escape_is_literal(value: str) -> None:
    escaped = markdown_escape(value)
    assert unescape(escaped) == " ".join(value.splitlines())
    assert unescaped_markup(escaped) == []
    assert "\n" not in escaped and "\r" not in escaped


alert_text = st.lists(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(['"', "\\", "🔥", "中", "\n", "*", "\u0001", "</script>"]),
    max_size=3000,
).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(summaries=st.lists(alert_text, min_size=1, max_size=40), truncated=st.integers(0, 2))
def test_every_card_is_valid_json_within_28kb_and_alerts_are_once_in_order(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_alert: Callable[..., Alert],
    make_notification: Callable[..., Notification],
    summaries: list[str],
    truncated: int,
) -> None:
    alerts = [
        make_alert(f"Alert{i:02d}X", summary=summary, description=summary * 4)
        for i, summary in enumerate(summaries)
    ]
    notifier = notifier_for(teams_yaml())
    assert isinstance(notifier, MSTeamsNotifier)
    message = make_message(make_notification(alerts=alerts, truncated_alerts=truncated))
    preview = notifier.preview(message)
    seen = []
    for index, sent in enumerate(preview.parts, 1):
        assert len(sent.encode()) <= BODY_LIMIT  # the JSON as posted
        content = card(json.loads(sent))
        title = content["body"][0]["text"]
        assert title.startswith(f"🔴 [FIRING:{len(alerts)}]")
        if len(preview.parts) > 1:
            assert title.endswith(f"({index}/{len(preview.parts)})")
        seen += [c["items"][0]["text"] for c in content["body"] if c["type"] == "Container"]
    assert [unescape(s).split("**")[1] for s in seen] == [f"Alert{i:02d}X" for i in range(len(alerts))]
    assert preview.sizes == [json_bytes(json.loads(p)) for p in preview.parts]


def test_one_huge_alert_is_cut_to_fit(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_alert: Callable[..., Alert],
    make_notification: Callable[..., Notification],
) -> None:
    huge = make_alert("Huge", description='"磁盘" ' * 20_000)
    n = make_notification(alerts=[make_alert("Small"), huge, make_alert("After")])
    parts = notifier_for(teams_yaml()).render_parts(make_message(n))  # type: ignore[attr-defined]
    assert len(parts) == 3 and all(json_bytes(p) <= BODY_LIMIT for p in parts)
    description = card(parts[1])["body"][2]["items"][1]["facts"][1]
    assert description["title"] == "Description" and description["value"].endswith("…")


# -- a storm stays within 4 per second ---------------------------------------------------


async def test_a_storm_of_100_stays_within_4_per_second(
    respx_mock: respx.MockRouter,
    relay_factory: Callable[..., Any],
) -> None:
    time = VirtualTime()
    vendor = EnforcingVendor(
        time,
        [(4, 1.0)],
        ok=lambda _: httpx.Response(202),
        throttled=lambda wait: httpx.Response(429, headers={"Retry-After": str(int(wait) + 1)}),
    )
    respx_mock.post(ENDPOINT).mock(side_effect=vendor)
    async with relay_factory(teams_yaml("route: {receiver: oncall, group_wait: 0s}")) as relay:
        await storm(relay, time)
        jobs = await relay.jobs()
    assert vendor.refused == []
    assert [job.status for job in jobs] == ["delivered"] * 100
    assert time.now >= 24  # 100 at 4 a second


# -- the URL never leaks ----------------------------------------------------------------


async def test_the_workflow_url_never_leaks_anywhere(
    respx_mock: respx.MockRouter,
    relay_factory: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from relay.obs.logs import setup_logging
    from tests.helpers.webhooks import alert, webhook

    echo = {"error": {"code": "WorkflowNotFound", "message": f"no flow at {URL} (sig {SIG})"}}
    respx_mock.post(ENDPOINT).mock(
        side_effect=[
            httpx.Response(404, json=echo),
            httpx.Response(429, text=f"slow down {SIG}"),
            httpx.Response(500, text=URL),
            httpx.ConnectError(f"cannot connect to {URL}"),
        ]
    )
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("json", "debug")
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        async with relay_factory(teams_yaml("route: {receiver: oncall, group_wait: 0s}")) as relay:
            for i in range(4):
                await relay.post(webhook(alert(f"Leak{i}"), group_key=f"{{}}:{{n={i}}}"))
            assert await relay.deliver_all() == 4
            outputs = [
                (await relay.client.get(path)).text
                for path in ("/api/v1/status", "/metrics", "/api/v1/notifications")
            ]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(logging.WARNING)
    logged = capsys.readouterr().err
    assert "HTTP Request: POST" in logged and "sig=<redacted>" in logged
    for text in outputs:
        assert SIG not in text and WORKFLOW not in text
    # httpx's lines are redacted by shape: the signature goes; the workflow id, which is
    # no credential without it, stays (relay's own records redact it too: leaks below).
    assert SIG not in logged
    assert "WorkflowNotFound" in outputs[2]
    assert leaks((SIG, WORKFLOW), [], caplog) == []


# -- relay render and relay test-alert ---------------------------------------------------


def test_render_and_test_alert(tmp_path: Path) -> None:
    with Sink(Answer(status=202, body=b"")) as teams:
        config = tmp_path / "relay.yml"
        config.write_text(
            teams_yaml(webhook_url=f"{teams.url}/workflows/{WORKFLOW}/triggers/manual/paths/invoke?sig={SIG}")
        )
        runner = CliRunner()
        rendered = runner.invoke(
            main, ["render", "--channel", "msteams", "--receiver", "oncall", "--config", str(config)]
        )
        assert rendered.exit_code == 0, rendered.output
        assert rendered.output.startswith("msteams: 1 message, bytes ")
        assert SIG not in rendered.output
        sent = runner.invoke(main, ["test-alert", "--receiver", "oncall", "--config", str(config)])
        assert sent.exit_code == 0, sent.output
        assert sent.stdout.splitlines() == ["oncall/msteams/0: ok"]
    [request] = teams.received
    assert request.path.endswith(f"?sig={SIG}")
    assert "RelayTestAlert" in json.dumps(card(request.json()), ensure_ascii=False)
