"""SlackNotifier against a fake Slack on loopback: outcome tables for the incoming webhook
and the Web API, Block Kit shape, splitting, escaping, update_on_resolve across a restart.

A scriptable HTTP server on 127.0.0.1 (tests/helpers/sink.py) plays Slack, so relay's
reading of its answers (JSON or plain text, status, Retry-After) goes over a real socket.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.channels.base import Message, Notifier, NotifierContext
from relay.channels.slack import SlackNotifier
from relay.channels.slack_blocks import MAX_BLOCKS, MAX_SECTION_CHARS
from relay.config import Config
from relay.core.alerts import Alert, Notification
from relay.core.errors import ConfigError, PermanentError, RetryableError
from relay.core.rates import Rate
from relay.store.sqlite import SQLiteStore
from tests.helpers.sink import Answer, Sink

HOOK_PATH = "/services/T0AAAAAAA/B0BBBBBBB/hookSecret0123456789abcd"
TOKEN = "xoxb-1111-2222-botTokenSecret0123"
TS = "1714564800.000100"
GROUP_KEY = '{}:{alertname="DiskFull"}'


def reply(
    status: int = 200, body: bytes | str | dict[str, Any] = b"ok", headers: dict[str, str] | None = None
) -> Answer:
    """An answer as Slack sends it: JSON bodies with their content type."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    else:
        headers.setdefault("Content-Type", "text/html")  # what hooks.slack.com sends
    return Answer(status, body, headers)


def posted(ts: str = TS, channel: str = "C0ALERTS") -> Answer:
    return reply(200, {"ok": True, "channel": channel, "ts": ts, "message": {}})


@pytest.fixture(scope="module")
def slack_server() -> Iterator[Sink]:
    # One server for the module: stopping one takes half a second (its poll interval).
    with Sink(reply()) as sink:
        yield sink


@pytest.fixture
def slack(slack_server: Sink) -> Sink:
    slack_server.script.clear()
    slack_server.received.clear()
    return slack_server


def hook_yaml(sink: Sink, **extra: str) -> str:
    lines = "".join(f"\n            {key}: {value}" for key, value in extra.items())
    return f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        slack_configs:
          - api_url: '{sink.url}{HOOK_PATH}'{lines}
    """


def bot_yaml(sink: Sink, **extra: str) -> str:
    lines = "".join(f"\n            {key}: {value}" for key, value in extra.items())
    return f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        slack_configs:
          - api_url: '{sink.url}/api/'
            token: '{TOKEN}'
            channel: '#alerts'{lines}
    """


def sections(post: dict[str, Any]) -> list[str]:
    blocks = post["attachments"][0]["blocks"]
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def mrkdwn_fields(post: dict[str, Any]) -> list[str]:
    """Every text of a post that Slack parses as mrkdwn (where mentions and links live)."""
    texts = [post["text"], *sections(post)]
    for block in post["attachments"][0]["blocks"]:
        if block["type"] == "context":
            texts += [e["text"] for e in block["elements"]]
    return texts


# -- incoming webhook ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (reply(200, "ok"), None, None),
        (reply(400, "invalid_payload"), PermanentError, "slack_invalid_payload"),
        (reply(403, "action_prohibited"), PermanentError, "slack_action_prohibited"),
        (reply(404, "channel_not_found"), PermanentError, "slack_channel_not_found"),
        (reply(410, "channel_is_archived"), PermanentError, "slack_channel_is_archived"),
        (reply(404, "<html>Not Found</html>"), PermanentError, "http_404"),
        (reply(429, "rate_limited", {"Retry-After": "7"}), RetryableError, "http_429"),
        (reply(500, "internal error"), RetryableError, "http_500"),
        (reply(503, "service unavailable"), RetryableError, "http_503"),
    ],
    ids=[
        "200-ok",
        "400-invalid_payload",
        "403-action_prohibited",
        "404-channel_not_found",
        "410-channel_is_archived",
        "404-html",
        "429-retry-after",
        "500",
        "503",
    ],
)
async def test_webhook_outcome_table(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Answer,
    outcome: type[Exception] | None,
    reason: str | None,
) -> None:
    slack.answer(answer)
    notifier = notifier_for(hook_yaml(slack))

    if outcome is None:
        await notifier.send(make_message())
        assert slack.received[-1].path == HOOK_PATH
        return
    with pytest.raises(outcome) as caught:
        await notifier.send(make_message())
    assert getattr(caught.value, "reason", None) == reason
    body = answer.body if isinstance(answer.body, str) else ""
    assert body in str(caught.value)  # the downstream's own words
    if answer.status == 429:
        assert isinstance(caught.value, RetryableError)
        assert caught.value.retry_after == 7


async def test_webhook_connection_refused_is_retryable(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    with Sink() as gone:
        url = gone.url  # a port that was just closed: connection refused
    notifier = notifier_for(f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        slack_configs: [{{api_url: '{url}{HOOK_PATH}'}}]
    """)
    with pytest.raises(RetryableError) as caught:
        await notifier.send(make_message())
    assert caught.value.reason == "connect"


async def test_webhook_timeout_is_retryable(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    slack.answer(Answer(200, b"ok", delay=2.5))
    yaml_text = hook_yaml(slack).replace("route:", "delivery: {timeout: 1s}\n    route:", 1)
    with pytest.raises(RetryableError) as caught:
        await notifier_for(yaml_text).send(make_message())
    assert caught.value.reason == "timeout"


# -- Web API (bot token) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (posted(), None, None),
        (reply(200, {"ok": False, "error": "channel_not_found"}), PermanentError, "slack_channel_not_found"),
        (reply(200, {"ok": False, "error": "not_in_channel"}), PermanentError, "slack_not_in_channel"),
        (reply(200, {"ok": False, "error": "is_archived"}), PermanentError, "slack_is_archived"),
        (reply(200, {"ok": False, "error": "invalid_auth"}), PermanentError, "slack_invalid_auth"),
        (reply(200, {"ok": False, "error": "not_authed"}), PermanentError, "slack_not_authed"),
        (reply(200, {"ok": False, "error": "token_revoked"}), PermanentError, "slack_token_revoked"),
        (
            reply(200, {"ok": False, "error": "missing_scope", "needed": "chat:write"}),
            PermanentError,
            "slack_missing_scope",
        ),
        (
            reply(
                200,
                {
                    "ok": False,
                    "error": "invalid_blocks",
                    "response_metadata": {"messages": ["[ERROR] must be less than 3001"]},
                },
            ),
            PermanentError,
            "slack_invalid_blocks",
        ),
        (reply(200, {"ok": False, "error": "ratelimited"}), RetryableError, "slack_ratelimited"),
        (
            reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),
            RetryableError,
            "slack_ratelimited",
        ),
        (reply(200, {"ok": False, "error": "internal_error"}), RetryableError, "slack_internal_error"),
        (reply(200, {"ok": False, "error": "fatal_error"}), RetryableError, "slack_fatal_error"),
        (reply(503, {"ok": False, "error": "service_unavailable"}), RetryableError, "http_503"),
        (reply(500, "<html>oops</html>"), RetryableError, "http_500"),
        (reply(200, "<html>a proxy's page</html>"), RetryableError, "bad_response"),
    ],
    ids=lambda v: (
        (v.body.get("error") or "ok") if isinstance(v, Answer) and isinstance(v.body, dict) else None
    ),
)
async def test_bot_outcome_table(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    answer: Answer,
    outcome: type[Exception] | None,
    reason: str | None,
) -> None:
    slack.answer(answer)
    notifier = notifier_for(bot_yaml(slack))

    if outcome is None:
        delivery = await notifier.send(make_message())
        assert delivery.data["channel"] == "C0ALERTS"
        assert delivery.data["ts"] == [TS]
    else:
        with pytest.raises(outcome) as caught:
            await notifier.send(make_message())
        assert getattr(caught.value, "reason", None) == reason
        error = answer.body.get("error") if isinstance(answer.body, dict) else None
        if error:
            assert error in str(caught.value)
        if answer.status == 429:
            assert isinstance(caught.value, RetryableError)
            assert caught.value.retry_after == 30
        if reason == "slack_invalid_blocks":
            assert "must be less than 3001" in str(caught.value)  # Slack's details kept
        if reason == "bad_response":  # what came back, not "HTTP 0"
            assert "HTTP 200, not a JSON object: <html>a proxy's page</html>" in str(caught.value)

    request = slack.received[-1]
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json()["channel"] == "#alerts"


def test_update_on_resolve_needs_a_bot_token(
    slack: Sink,
    config_for: Callable[..., Config],
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for(hook_yaml(slack, update_on_resolve="true"))
    assert "update_on_resolve needs a bot token" in str(caught.value)
    assert "slack_configs" in str(caught.value)


def test_token_without_channel_is_a_config_error(config_for: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for(f"""
        route: {{receiver: oncall}}
        receivers:
          - name: oncall
            slack_configs: [{{token: '{TOKEN}'}}]
        """)
    assert "channel is required with token" in str(caught.value)


def test_rate_limit_is_per_destination_and_hides_the_url(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
) -> None:
    hook = notifier_for(hook_yaml(slack))
    same = notifier_for(hook_yaml(slack, username="relay"))
    bot = notifier_for(bot_yaml(slack))
    assert hook.rate_limits == (Rate(60, 60.0),)  # about one message per second per channel
    assert hook.rate_limit_key == same.rate_limit_key != bot.rate_limit_key
    assert hook.rate_limit_key is not None
    assert "hookSecret" not in hook.rate_limit_key


# -- Block Kit -----------------------------------------------------------------------


async def test_block_kit_shape_on_the_wire(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    notifier = notifier_for(hook_yaml(slack, username="relay", icon_emoji="':rotating_light:'"))
    await notifier.send(make_message(make_notification(3)))

    body = slack.received[-1].json()
    assert body["username"] == "relay"
    assert body["icon_emoji"] == ":rotating_light:"
    assert "[FIRING:3] DiskFull" in body["text"]
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#E01E5A"
    header, *rest = attachment["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": body["text"]}}
    # Three alerts, then the footer: the group's silence link.
    assert [b["type"] for b in rest] == ["section"] * 3 + ["context"]
    assert "|🔕 Silence this group in Alertmanager>" in rest[3]["elements"][0]["text"]
    for i, text in enumerate(sections(body)):
        assert rest[i]["text"]["type"] == "mrkdwn"
        assert f"*Alert{i}*" in text
        assert f"*Summary:* Alert{i} on db-1" in text
        assert "instance=db-1:9100" in text
        assert "2024-05-01 12:00:00 UTC" in text
        assert "<http://prometheus.local/graph?g0.expr=up|" in text
        assert "<http://alertmanager.local:9093/#/silences/new?filter=" in text


def test_resolved_is_green_and_says_so(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    notifier = notifier_for(hook_yaml(slack))
    assert isinstance(notifier, SlackNotifier)
    (post,) = notifier.render_posts(make_message(make_notification(2, "resolved")))
    assert post["attachments"][0]["color"] == "#2EB67D"
    assert "[RESOLVED] DiskFull" in post["text"]
    assert all("resolved" in s and "Silence" not in s for s in sections(post))


def test_zh_cn_header(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    notifier = notifier_for(hook_yaml(slack, locale="zh-CN"))
    assert isinstance(notifier, SlackNotifier)
    (post,) = notifier.render_posts(make_message(make_notification(2, truncated_alerts=5)))
    assert "[告警:2] DiskFull" in post["text"]
    assert "另有 5 条" in " ".join(mrkdwn_fields(post))


def _numbered(make_alert: Callable[..., Alert], count: int, **annotations: str) -> list[Alert]:
    return [make_alert(f"Alert{i:03d}", **annotations) for i in range(count)]


def test_more_than_fifty_blocks_split_into_numbered_posts(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(hook_yaml(slack))
    assert isinstance(notifier, SlackNotifier)
    alerts = _numbered(make_alert, 120)
    posts = notifier.render_posts(make_message(make_notification(alerts=alerts, truncated_alerts=7)))

    assert len(posts) == 3
    seen: list[str] = []
    for index, post in enumerate(posts, 1):
        blocks = post["attachments"][0]["blocks"]
        assert len(blocks) <= MAX_BLOCKS
        assert blocks[0]["text"]["text"].endswith(f"({index}/3)")
        assert post["text"].endswith(f"({index}/3)")
        assert "[FIRING:120] DiskFull" in post["text"]
        seen += re.findall(r"\*(Alert\d{3})\*", "\n".join(sections(post)))
        more = [b for b in blocks if b["type"] == "context"]
        assert len(more) == (2 if index == 3 else 0)  # "and 7 more", the silence link
    assert seen == [a.labels["alertname"] for a in alerts]  # each once, in order
    assert "and 7 more" in posts[-1]["attachments"][0]["blocks"][-2]["elements"][0]["text"]


def test_a_long_alert_is_split_across_sections_and_nothing_is_lost(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    # Words with characters Slack needs escaped, so a break could land inside "&amp;".
    words = [f"w{i}&<{i}>" for i in range(1500)]
    description = " ".join(words[:700]) + "\n" + " ".join(words[700:])
    alert = make_alert("Huge", description=description)
    notifier = notifier_for(hook_yaml(slack))
    assert isinstance(notifier, SlackNotifier)

    (post,) = notifier.render_posts(make_message(make_notification(alerts=[alert])))

    texts = sections(post)
    assert len(texts) >= 4
    assert all(0 < len(t) <= MAX_SECTION_CHARS for t in texts)
    for text in texts:  # every piece is valid on its own: no half escape, no half link
        assert re.search(r"&(?!amp;|lt;|gt;)", text) is None
        assert text.count("<") == text.count(">")
    joined = html.unescape(" ".join(texts))
    assert all(word in joined for word in words)


def test_many_long_alerts_split_by_size(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    # 30 alerts of ~2.5k characters: under 50 blocks, but over what one post may carry.
    alerts = _numbered(make_alert, 30, description="x" * 2500)
    notifier = notifier_for(hook_yaml(slack))
    assert isinstance(notifier, SlackNotifier)

    posts = notifier.render_posts(make_message(make_notification(alerts=alerts)))

    assert len(posts) > 1
    names = [n for p in posts for n in re.findall(r"\*(Alert\d{3})\*", "\n".join(sections(p)))]
    assert names == [a.labels["alertname"] for a in alerts]
    assert all(sum(len(s) for s in sections(p)) <= 40_000 for p in posts)


async def test_split_posts_are_all_sent_and_a_retry_resumes(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(hook_yaml(slack))
    message = make_message(make_notification(alerts=_numbered(make_alert, 120)))
    slack.answer(reply(200, "ok"), reply(500, "boom"))

    with pytest.raises(RetryableError) as caught:
        await notifier.send(message)
    assert "post 2/3 (post 1 delivered, a retry resumes here)" in str(caught.value)
    assert slack.count() == 2

    delivery = await notifier.send(message)
    assert delivery.detail == "3 posts, resumed at post 2"
    headers = [r.json()["text"] for r in slack.received]
    assert [h[-5:] for h in headers] == ["(1/3)", "(2/3)", "(2/3)", "(3/3)"]


# -- escaping ------------------------------------------------------------------------

HOSTILE = ["<!channel>", "<!here|here>", "<@U123>", "<#C42>", "<http://x|y>", "a & b", "&lt;"]


def test_untrusted_values_cannot_mention_or_link(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    value = " ".join(HOSTILE)
    alert = Alert.model_validate(
        {
            "status": "firing",
            "labels": {"alertname": f"Disk{value}", "severity": value, "team": value},
            "annotations": {"summary": value, "description": value},
            "startsAt": "2024-05-01T12:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph?g0.expr=up>0&x=<!channel>|<@U1>",
        }
    )
    notification = make_notification(
        alerts=[alert],
        truncated_alerts=2,
        group_labels={"alertname": value},
        common_labels={"alertname": value},
    )
    notifier = notifier_for(hook_yaml(slack))
    assert isinstance(notifier, SlackNotifier)

    (post,) = notifier.render_posts(make_message(notification))

    for text in mrkdwn_fields(post):
        # Only relay's own links remain as markup: the graph and the silence link.
        for markup in re.findall(r"<[^>]*>", text):
            assert re.fullmatch(r"<http://(prometheus\.local|alertmanager\.local:9093)/[^<>]*>", markup), (
                markup
            )
        assert "<!" not in text and "<@" not in text and "<#" not in text
        assert "<http://x" not in text
        assert re.search(r"&(?!amp;|lt;|gt;)", text) is None  # every & is an escape
    section = sections(post)[0]
    assert "&lt;!channel&gt;" in section
    assert "a &amp; b" in section
    assert "&amp;lt;" in section  # a literal "&lt;" shows as typed, not as "<"
    # The header is plain text: Slack does not parse it, so it keeps the characters.
    header = post["attachments"][0]["blocks"][0]["text"]
    assert header["type"] == "plain_text"


def test_a_javascript_generator_url_is_not_linked(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    alert = make_alert("X").model_copy(update={"generator_url": "javascript:alert(1)"})
    notifier = notifier_for(hook_yaml(slack))
    assert isinstance(notifier, SlackNotifier)
    (post,) = notifier.render_posts(make_message(make_notification(alerts=[alert])))
    assert "javascript:" not in json.dumps(post)


# -- update_on_resolve ---------------------------------------------------------------


async def _sqlite(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    await store.open()
    return store


def _build(config: Config, ctx: NotifierContext) -> Notifier:
    (channel,) = [c for r in config.receivers for _, c in r.integrations()]
    return channel.build(ctx)


async def test_update_on_resolve_survives_a_restart(
    slack: Sink,
    tmp_path: Path,
    config_for: Callable[..., Config],
    ctx_for: Callable[[Config], NotifierContext],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    yaml_text = bot_yaml(slack, update_on_resolve="true")
    integration = "oncall/slack/0"
    ref_key = f"slack:{integration}:{GROUP_KEY}"

    # First run: the firing post; its channel and ts go to the SQLite store.
    store = await _sqlite(tmp_path / "relay.db")
    try:
        config = config_for(yaml_text)
        ctx = ctx_for(config)
        ctx.store = store
        slack.answer(posted(TS, "C0ALERTS"))
        await _build(config, ctx).send(
            make_message(make_notification(2), job_id="job-firing", integration=integration)
        )
        assert (await store.get_ref(ref_key) or {})["ts"] == TS
    finally:
        await store.close()

    # "Restart": a new store object over the same file, a new config and notifier.
    store = await _sqlite(tmp_path / "relay.db")
    try:
        config = config_for(yaml_text)
        ctx = ctx_for(config)
        ctx.store = store
        before = slack.count()
        slack.answer(posted(TS, "C0ALERTS"), posted("1714565100.000200", "C0ALERTS"))
        delivery = await _build(config, ctx).send(
            make_message(
                make_notification(2, "resolved"),
                job_id="job-resolved",
                integration=integration,
            )
        )
    finally:
        await store.close()

    assert delivery.detail == "updated the firing message"
    update, thread_reply = slack.received[before:]
    assert update.path == "/api/chat.update"
    edit = update.json()
    assert (edit["channel"], edit["ts"]) == ("C0ALERTS", TS)
    assert edit["attachments"][0]["color"] == "#2EB67D"
    assert "[RESOLVED] DiskFull" in edit["text"]
    assert thread_reply.path == "/api/chat.postMessage"
    body = thread_reply.json()
    assert (body["channel"], body["thread_ts"]) == ("C0ALERTS", TS)
    assert "[RESOLVED] DiskFull" in body["text"]


async def test_update_on_resolve_edits_every_part_of_a_split_post(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    notifier = notifier_for(bot_yaml(slack, update_on_resolve="true"))
    alerts = _numbered(make_alert, 60)
    slack.answer(posted("1.1"), posted("1.2"))
    await notifier.send(make_message(make_notification(alerts=alerts), job_id="job-1"))

    resolved = [a.model_copy(update={"status": "resolved"}) for a in alerts]
    before = slack.count()
    slack.answer(posted("1.1"), posted("1.2"), posted("1.3"))
    await notifier.send(make_message(make_notification(alerts=resolved, status="resolved"), job_id="job-2"))

    calls = [(r.path, r.json().get("ts"), r.json().get("thread_ts")) for r in slack.received[before:]]
    assert calls == [
        ("/api/chat.update", "1.1", None),
        ("/api/chat.update", "1.2", None),
        ("/api/chat.postMessage", None, "1.1"),
    ]


async def test_resolved_without_a_stored_post_is_posted_anew(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    notifier = notifier_for(bot_yaml(slack, update_on_resolve="true"))
    slack.answer(posted())
    await notifier.send(make_message(make_notification(2, "resolved")))
    (request,) = slack.received
    assert request.path == "/api/chat.postMessage"
    assert "thread_ts" not in request.json()


async def test_a_deleted_firing_post_is_replaced_by_a_new_one(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    notifier = notifier_for(bot_yaml(slack, update_on_resolve="true"))
    slack.answer(posted())
    await notifier.send(make_message(make_notification(2), job_id="job-1"))
    slack.answer(reply(200, {"ok": False, "error": "message_not_found"}), posted("2.0"))

    await notifier.send(make_message(make_notification(2, "resolved"), job_id="job-2"))

    paths = [r.path for r in slack.received]
    assert paths == ["/api/chat.postMessage", "/api/chat.update", "/api/chat.postMessage"]
    assert "thread_ts" not in slack.received[-1].json()


async def test_without_update_on_resolve_nothing_is_stored(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    store: Any,
) -> None:
    slack.answer(posted(), posted())
    notifier = notifier_for(bot_yaml(slack))
    await notifier.send(make_message(make_notification(2)))
    await notifier.send(make_message(make_notification(2, "resolved"), job_id="job-2"))
    assert store.refs == {}
    assert [r.path for r in slack.received] == ["/api/chat.postMessage"] * 2


def test_signing_secret_needs_a_bot_token(slack: Sink, config_for: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match=re.escape("signing_secret (buttons) needs a bot token")):
        config_for(hook_yaml(slack, signing_secret="'s3cret'"))


def test_signing_secret_from_a_file_is_a_redacted_secret(
    slack: Sink,
    config_for: Callable[..., Config],
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "signing"
    secret_file.write_text("signingSecret-4f3e2d1c\n")
    config = config_for(bot_yaml(slack, signing_secret_file=f"'{secret_file}'"))
    cfg = config.receivers[0].slack_configs[0]
    assert cfg.signing_secret is not None
    assert cfg.signing_secret.get_secret_value() == "signingSecret-4f3e2d1c"
    assert "signingSecret-4f3e2d1c" in config.secrets()
    assert "signingSecret-4f3e2d1c" not in repr(cfg)


def test_buttons_and_footer_fit_in_the_last_post_of_a_split_message(
    slack: Sink,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Alert],
) -> None:
    yaml_text = bot_yaml(slack, signing_secret="'s3cret'").replace(
        "route:", "alertmanager: {url: 'http://127.0.0.1:9093'}\n    route:", 1
    )
    notifier = notifier_for(yaml_text)
    assert isinstance(notifier, SlackNotifier)
    for count in (1, 46, 47, 120):
        n = make_notification(alerts=_numbered(make_alert, count), truncated_alerts=7)
        message = make_message(n)
        posts = notifier.render_posts(message)
        for post in posts:
            assert len(post["attachments"][0]["blocks"]) <= MAX_BLOCKS
        *_, more, footer, actions = posts[-1]["attachments"][0]["blocks"]
        assert "and 7 more" in more["elements"][0]["text"]
        assert "|🔕 Silence this group in Alertmanager>" in footer["elements"][0]["text"]
        assert [e["action_id"] for e in actions["elements"]] == [
            "relay_silence_1h",
            "relay_silence_4h",
            "relay_ack",
        ]
        assert {e["value"] for e in actions["elements"]} == {message.job_id}
        for post in posts[:-1]:  # buttons once, at the end
            assert all(b["type"] != "actions" for b in post["attachments"][0]["blocks"])
