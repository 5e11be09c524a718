"""Templating: built-ins in both locales, user overrides, fallback on errors, escaping,
times and time zones, filters, the sandbox."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.channels import CHANNELS, SINGLE_LINE_TEMPLATES, TEMPLATE_CATALOGUE, TEMPLATE_NAMES
from relay.config import Config, parse_config
from relay.core.alerts import Alert, Notification
from relay.core.clock import FakeClock
from relay.core.text import (
    LOCALES,
    alert_silence_url,
    format_datetime,
    humanize_duration,
    labels_text,
    severity_icon,
    truncate_bytes,
)
from relay.obs.metrics import Metrics
from relay.templating.engine import Renderer
from relay.templating.sample import sample_notification, sample_payload

NOW = datetime(2026, 11, 22, 6, 30, 0, tzinfo=UTC)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "templates.md"

#: Templates rendered once per alert (``alert`` in their context), from the registry.
PER_ALERT = frozenset(name for c in CHANNELS for name in c.per_alert)


def make_config(
    *, timezone: str = "UTC", templates: list[str] | None = None, external_url: str = ""
) -> Config:
    globs = json.dumps(templates or [])
    return parse_config(
        f"global: {{timezone: {timezone}, external_url: {json.dumps(external_url)}}}\n"
        f"templates: {globs}\n"
        "route: {receiver: default}\n"
        "receivers: [{name: default, log_configs: [{}]}]\n"
    )


def make_renderer(
    *,
    timezone: str = "UTC",
    templates: list[str] | None = None,
    metrics: Metrics | None = None,
    external_url: str = "",
) -> Renderer:
    return Renderer(
        make_config(timezone=timezone, templates=templates, external_url=external_url),
        TEMPLATE_CATALOGUE,
        metrics,
        clock=FakeClock(NOW.timestamp()),
    )


def errors(metrics: Metrics, template: str) -> float:
    value = metrics.registry.get_sample_value("relay_template_errors_total", {"template": template})
    return value or 0.0


def alert(
    status: str = "firing",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    ends: str = "0001-01-01T00:00:00Z",
) -> Alert:
    return Alert.model_validate(
        {
            "status": status,
            "labels": {"alertname": "DiskFull", "severity": "critical", **(labels or {})},
            "annotations": annotations or {},
            "startsAt": "2026-11-22T06:25:51.820407Z",
            "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
        }
    )


def notification(*alerts: Alert, truncated: int = 0) -> Notification:
    items = list(alerts) or [alert()]
    return Notification(
        receiver="oncall",
        group_key='{}:{alertname="DiskFull"}',
        status="firing" if any(a.status == "firing" for a in items) else "resolved",
        alerts=items,
        group_labels={"alertname": "DiskFull"},
        common_labels={"alertname": "DiskFull"},
        external_url="http://alertmanager:9093",
        truncated_alerts=truncated,
    )


def user_templates(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """Write ``files`` under tmp_path/custom and return the glob that finds them."""
    for name, text in files.items():
        path = tmp_path / "custom" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [str(tmp_path / "custom" / "**" / "*.j2")]


# -- built-ins ---------------------------------------------------------------------------


#: Templates that show the group (a subject, a header, a card's title, the Slack footer's
#: link), not each alert.
HEADERS = ("webhook.body", "msteams.title", "slack.footer", *SINGLE_LINE_TEMPLATES)
#: A call's or an SMS's template variables: a few short words, not a message.
PHONE = tuple(
    name
    for name in TEMPLATE_NAMES
    if name.split(".")[0] in ("tencent_voice", "tencent_sms", "aliyun_voice", "aliyun_sms", "twilio")
)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_builtin_renders_sample(name: str, locale: str) -> None:
    metrics = Metrics()
    renderer = make_renderer(metrics=metrics)
    n = sample_notification(now=NOW)
    extra: dict[str, Any] = {"alert": n.alerts[0]} if name in PER_ALERT else {}

    text = renderer.render(name, n, locale=locale, **extra)

    assert text.strip()
    assert errors(metrics, name) == 0
    if name != "webhook.body":
        assert "0001" not in text
    if locale == "zh-CN" and name not in ("webhook.body", "slack.footer") and name not in PER_ALERT:
        assert "告警" in text
    if locale == "zh-CN" and name in ("email.txt", "wecom.markdown"):
        assert "开始时间" in text and "已恢复" in text and "持续" in text
        assert "查看图表" in text and "静默" in text


def test_builtins_exist_for_every_name_and_locale() -> None:
    from relay.core.resources import TEMPLATES, packaged

    missing = [
        f"{loc}/{name}.j2"
        for loc in LOCALES
        for name in TEMPLATE_NAMES
        if not packaged(TEMPLATES, f"{loc}/{name}.j2").is_file()
    ]
    assert missing == []


def test_sample_has_a_resolved_alert_and_both_languages() -> None:
    payload = sample_payload(NOW)
    assert payload["version"] == "4"
    assert {a["status"] for a in payload["alerts"]} == {"firing", "resolved"}
    text = json.dumps(payload, ensure_ascii=False)
    assert re.search(r"[\u4e00-\u9fff]", text) and "Disk" in text
    n = sample_notification("oncall", now=NOW)
    assert n.receiver == "oncall" and len(n.resolved) == 1 and len(n.firing) >= 2


def test_log_is_compact_multiline() -> None:
    n = sample_notification(now=NOW)
    text = make_renderer().render_text("log", n, locale="en")
    lines = text.splitlines()
    assert len(lines) == 1 + len(n.alerts)
    assert lines[0] == (
        "[FIRING:3] infra (default) | silence: "
        "http://alertmanager:9093/#/silences/new?filter=%7Bteam%3D%22infra%22%7D"
    )
    assert all(line.startswith("- [") for line in lines[1:])


def test_log_says_and_n_more_when_truncated() -> None:
    text = make_renderer().render("log.txt", notification(truncated=7), locale="en")
    assert "and 7 more" in text
    zh = make_renderer().render("log.txt", notification(truncated=7), locale="zh-CN")
    assert "另有 7 条" in zh


def test_unknown_locale_uses_english() -> None:
    n = notification()
    renderer = make_renderer()
    assert renderer.render("email.subject", n, locale="fr") == renderer.render(
        "email.subject", n, locale="en"
    )
    assert renderer.render("email.subject", n, locale="zh_CN").startswith("[告警:1]")


def test_webhook_body_is_the_v4_json_or_the_callers_payload() -> None:
    n = sample_notification(now=NOW)
    renderer = make_renderer()
    assert json.loads(renderer.render("webhook.body", n, locale="en")) == n.to_v4()
    payload = {**n.to_v4(), "relay": {"receiver": "default"}}
    body = renderer.render("webhook.body", n, locale="en", payload=payload)
    assert json.loads(body) == payload


def test_slack_alert_renders_one_alert_when_given() -> None:
    n = sample_notification(now=NOW)
    text = make_renderer().render("slack.alert", n, locale="en", alert=n.alerts[-1])
    assert n.alerts[-1].labels["instance"] in text
    assert n.alerts[0].labels["instance"] not in text


def test_slack_escapes_untrusted_values() -> None:
    n = notification(alert(annotations={"summary": "<!channel> & <http://evil|click>"}))
    text = make_renderer().render("slack.alert", n, locale="en")
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text


def test_wecom_markdown_mentions() -> None:
    text = make_renderer().render(
        "wecom.markdown", notification(), locale="zh-CN", mentions=["zhangsan", "lisi"]
    )
    assert text.endswith("<@zhangsan> <@lisi>")


def test_single_line_templates_stay_on_one_line() -> None:
    n = notification(alert())
    n.group_labels = {"alertname": "Disk\nFull\r\nBcc: x@example.com"}
    for name in ("email.subject", "slack.header"):
        text = make_renderer().render(name, n, locale="en")
        assert "\n" not in text and "\r" not in text


# -- user templates -----------------------------------------------------------------------


def test_user_template_overrides_by_name(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "email.subject.j2": "ALL {{ receiver }} {{ firing | length }}",
            "zh-CN/email.subject.j2": "中文 {{ receiver }}",
        },
    )
    renderer = make_renderer(templates=globs)
    n = notification()
    assert renderer.render("email.subject", n, locale="en") == "ALL oncall 1"
    assert renderer.render("email.subject", n, locale="zh-CN") == "中文 oncall"
    # Names not overridden still come from the built-ins.
    assert renderer.render("email.txt", n, locale="en").startswith("[FIRING:1] DiskFull")
    assert renderer.check() == []


def test_user_globs_are_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_templates(tmp_path, {"log.txt.j2": "mine: {{ alerts | length }}"})
    monkeypatch.chdir(tmp_path)
    renderer = make_renderer(templates=["custom/*.j2"])
    monkeypatch.chdir("/")  # expanded once, at construction
    assert renderer.render_text("log", notification(), locale="en") == "mine: 1"


def test_user_template_can_include_another(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "macros.j2": "{% macro tag(a) %}<{{ a.labels.alertname }}>{% endmacro %}",
            "log.txt.j2": '{% import "macros.j2" as m %}{% for a in alerts %}{{ m.tag(a) }}{% endfor %}',
        },
    )
    renderer = make_renderer(templates=globs)
    assert renderer.render("log.txt", notification(), locale="en") == "<DiskFull>"
    assert renderer.check() == []


def test_missing_annotation_renders_empty(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "log.txt.j2": "[{{ alerts[0].annotations.runbook }}][{{ common_annotations.nope }}]",
        },
    )
    metrics = Metrics()
    renderer = make_renderer(templates=globs, metrics=metrics)
    assert renderer.render("log.txt", notification(), locale="en") == "[][]"
    assert errors(metrics, "log.txt") == 0


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("line one\n{% if %}\n", 2),  # syntax error
        ("line one\nline two\n{{ 1/0 }}\n", 3),  # runtime error
        ("{{ alerts[0].labels.alertname }}\n{{ alerts[0].nope.deeper }}\n", 2),  # undefined
    ],
    ids=["syntax", "runtime", "undefined"],
)
def test_broken_user_template_falls_back_counts_and_logs_the_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, source: str, line: int
) -> None:
    globs = user_templates(tmp_path, {"email.subject.j2": source})
    metrics = Metrics()
    renderer = make_renderer(templates=globs, metrics=metrics)  # does not raise
    builtin = make_renderer().render("email.subject", notification(), locale="en")

    with caplog.at_level(logging.ERROR, logger="relay.templating"):
        text = renderer.render("email.subject", notification(), locale="en")

    assert text == builtin == "[FIRING:1] DiskFull"
    assert errors(metrics, "email.subject") == 1
    path = str(tmp_path / "custom" / "email.subject.j2")
    assert f"{path}:{line}:" in caplog.text
    assert [p for p in renderer.check() if p.startswith(f"{path}:{line}:")]


def test_check_reports_file_and_line(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "email.txt.j2": "ok\nok\n{% for a in alerts %}\n{{ a }}\n",  # unclosed for
            "zh-CN/log.txt.j2": "好\n{{ 1/0 }}",
            "wecom.text.j2": "fine {{ receiver }}",
        },
    )
    problems = make_renderer(templates=globs).check()
    custom = tmp_path / "custom"
    assert len(problems) == 2
    assert any(p.startswith(f"{custom / 'email.txt.j2'}:") and "endfor" in p for p in problems)
    assert any(p.startswith(f"{custom / 'zh-CN' / 'log.txt.j2'}:2:") and "division" in p for p in problems)


def test_sandbox_blocks_private_attributes(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "log.txt.j2": "{{ ''.__class__.__mro__ }}",
            "email.subject.j2": "{{ notification.__class__ }}",
            "email.txt.j2": "{{ labels_text.__globals__ }}",
        },
    )
    metrics = Metrics()
    renderer = make_renderer(templates=globs, metrics=metrics)
    n = notification()
    for name in ("log.txt", "email.subject", "email.txt"):
        text = renderer.render(name, n, locale="en")
        assert "class" not in text and "object" not in text
        assert text == make_renderer().render(name, n, locale="en")
        assert errors(metrics, name) == 1
    assert len(renderer.check()) == 3


def test_sandbox_refuses_huge_strings(tmp_path: Path) -> None:
    globs = user_templates(tmp_path, {"log.txt.j2": "{{ 'x' * 100000000 }}{{ 10 ** 100000 }}"})
    metrics = Metrics()
    text = make_renderer(templates=globs, metrics=metrics).render_text("log", notification())
    assert text.startswith("[FIRING:1]")
    assert errors(metrics, "log.txt") == 1


def test_unreadable_user_template_is_a_check_problem(tmp_path: Path) -> None:
    path = tmp_path / "custom" / "log.txt.j2"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xfe not utf-8")
    renderer = make_renderer(templates=[str(tmp_path / "custom" / "*.j2")])
    assert renderer.render_text("log", notification()).startswith("[FIRING:1]")
    assert [p for p in renderer.check() if p.startswith(str(path))]


# -- render_string ------------------------------------------------------------------------


def test_render_string() -> None:
    text = make_renderer().render_string(
        "{{ status }} {{ common_labels.alertname }} {{ extra_value }}",
        notification(),
        locale="en",
        fallback="email.subject",
        extra_value="x",
    )
    assert text == "firing DiskFull x"


def test_render_string_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    renderer = make_renderer(metrics=metrics)
    with caplog.at_level(logging.ERROR, logger="relay.templating"):
        text = renderer.render_string(
            "ok\n{{ 1/0 }}", notification(), locale="zh-CN", fallback="email.subject"
        )
    assert text == "[告警:1] DiskFull"
    assert errors(metrics, "email.subject") == 1
    assert ":2:" in caplog.text
    body = renderer.render_string("{% if %}", notification(), locale="en", fallback="webhook.body")
    assert json.loads(body)["version"] == "4"
    assert errors(metrics, "webhook.body") == 1


# -- escaping ----------------------------------------------------------------------------


def test_label_values_are_not_evaluated_again(tmp_path: Path) -> None:
    n = notification(alert(labels={"instance": "{{ 7*7 }}"}, annotations={"summary": "{% raw %}{{ 7*7 }}"}))
    renderer = make_renderer()
    for name in ("log.txt", "email.txt", "email.html", "slack.alert", "wecom.markdown"):
        text = renderer.render(name, n, locale="en")
        assert "{{ 7*7 }}" in text and "49" not in text
    text = renderer.render_string("{{ alerts[0].labels.instance }}", n, locale="en", fallback="email.subject")
    assert text == "{{ 7*7 }}"


def test_html_is_escaped_only_in_html_templates() -> None:
    n = notification(
        alert(annotations={"summary": "<script>alert(1)</script>"}, labels={"instance": '"><img src=x>'})
    )
    renderer = make_renderer()
    html = renderer.render("email.html", n, locale="en")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    for name in ("email.txt", "log.txt", "wecom.text"):
        assert "<script>alert(1)</script>" in renderer.render(name, n, locale="en")


def test_user_html_template_autoescapes(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "email.html.j2": "<p>{{ alerts[0].annotations.summary }}</p>",
            "email.txt.j2": "{{ alerts[0].annotations.summary }}",
        },
    )
    n = notification(alert(annotations={"summary": "<b>x</b>"}))
    renderer = make_renderer(templates=globs)
    assert renderer.render("email.html", n, locale="en") == "<p>&lt;b&gt;x&lt;/b&gt;</p>"
    assert renderer.render("email.txt", n, locale="en") == "<b>x</b>"


def test_javascript_links_are_dropped() -> None:
    a = alert()
    a.generatorURL = "javascript:alert(1)"
    html = make_renderer().render("email.html", notification(a), locale="en")
    assert "javascript:" not in html


# -- times --------------------------------------------------------------------------------


def test_firing_alert_never_shows_year_one(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "log.txt.j2": "[{{ alerts[0].endsAt | datetime }}][{{ alerts[0].endsAt | since }}]",
        },
    )
    n = notification(alert("firing"))
    assert n.alerts[0].endsAt is None
    renderer = make_renderer()
    for name in TEMPLATE_NAMES:
        if name != "webhook.body":  # the v4 wire format keeps Alertmanager's zero time
            for locale in LOCALES:
                text = renderer.render(name, n, locale=locale)
                assert "0001" not in text and "None" not in text, name
    assert make_renderer(templates=globs).render_text("log", n) == "[][]"
    assert format_datetime(datetime(1, 1, 1, tzinfo=UTC), "UTC") == ""
    assert format_datetime("0001-01-01T00:00:00Z", "UTC") == ""
    assert format_datetime(None, "UTC") == ""


def test_timezone_shanghai_is_eight_hours_ahead() -> None:
    n = notification(alert())
    text = make_renderer(timezone="Asia/Shanghai").render("email.txt", n, locale="zh-CN")
    assert "2026-11-22 14:25:51 +08:00" in text
    text = make_renderer().render("email.txt", n, locale="en")
    assert "2026-11-22 06:25:51 UTC" in text


def test_datetime_filter_format_and_zone(tmp_path: Path) -> None:
    globs = user_templates(
        tmp_path,
        {
            "log.txt.j2": "{{ alerts[0].startsAt | datetime('%H:%M') }} "
            "{{ alerts[0].startsAt | datetime(tz='UTC') }} {{ timezone }}",
        },
    )
    text = make_renderer(timezone="Asia/Shanghai", templates=globs).render_text("log", notification())
    assert text == "14:25 2026-11-22 06:25:51 UTC Asia/Shanghai"


def test_since_and_duration_filters(tmp_path: Path) -> None:
    resolved = alert("resolved", ends="2026-11-22T07:28:00.820407Z")
    globs = user_templates(
        tmp_path,
        {
            "log.txt.j2": "{{ alerts[0].startsAt | since }}|{{ alerts[0] | duration }}|"
            "{{ alerts[1] | duration }}|{{ 312 | duration }}|"
            "{{ alerts[1].startsAt | duration(alerts[1].endsAt) }}",
        },
    )
    renderer = make_renderer(templates=globs)  # the clock says 06:30:00
    n = notification(alert(), resolved)
    assert renderer.render("log.txt", n, locale="en") == "4m 8s|4m 8s|1h 2m|5m 12s|1h 2m"
    assert renderer.render("log.txt", n, locale="zh-CN") == "4分8秒|4分8秒|1小时2分|5分12秒|1小时2分"


@pytest.mark.parametrize(
    ("seconds", "en", "zh"),
    [
        (0, "0s", "0秒"),
        (59.9, "59s", "59秒"),
        (312, "5m 12s", "5分12秒"),
        (3600, "1h", "1小时"),
        (3725, "1h 2m", "1小时2分"),
        (86400 * 2 + 3 * 3600, "2d 3h", "2天3小时"),
        (86400 + 59, "1d", "1天"),
        (-5, "0s", "0秒"),
    ],
)
def test_humanize_duration(seconds: float, en: str, zh: str) -> None:
    assert humanize_duration(seconds, "en") == en
    assert humanize_duration(seconds, "zh-CN") == zh


# -- helpers ------------------------------------------------------------------------------


def test_severity_icon() -> None:
    assert [severity_icon(s) for s in ("critical", "warning", "info", "resolved", "x", None)] == [
        "🔴",
        "🟠",
        "🔵",
        "✅",
        "⚪",
        "⚪",
    ]
    assert severity_icon(alert("resolved", ends="2026-11-22T07:00:00Z")) == "✅"
    assert severity_icon(alert()) == "🔴"


def test_labels_text() -> None:
    labels = {"b": "2", "alertname": "X", "a": "1"}
    assert labels_text(labels) == "a=1, alertname=X, b=2"
    assert labels_text(labels, exclude=["alertname"]) == "a=1, b=2"


def test_silence_url() -> None:
    a = alert(labels={"instance": 'db"1'})
    url = alert_silence_url(a, "http://am:9093/")
    assert url.startswith("http://am:9093/#/silences/new?filter=%7Balertname%3D%22DiskFull%22")
    assert "%5C%22" in url  # the quote inside the value is escaped
    assert alert_silence_url(a, "") == ""


def test_truncate_bytes_examples() -> None:
    assert truncate_bytes("告警告警", 12) == "告警告警"
    assert truncate_bytes("告警告警", 11) == "告警…"
    assert truncate_bytes("告警告警", 7, end="") == "告警"
    assert truncate_bytes("ab", 0) == ""


@given(st.text(), st.integers(min_value=0, max_value=64), st.sampled_from(["…", "", "..."]))
def test_truncate_bytes_never_cuts_a_character(text: str, limit: int, end: str) -> None:
    text = text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    out = truncate_bytes(text, limit, end)
    data = out.encode("utf-8")
    assert len(data) <= limit or out == text
    if out != text:
        body = out[: len(out) - len(end)] if end and out.endswith(end) else out
        assert text.startswith(body)


def test_truncate_bytes_filter(tmp_path: Path) -> None:
    globs = user_templates(tmp_path, {"log.txt.j2": "{{ '磁盘已满' | truncate_bytes(8) }}"})
    assert make_renderer(templates=globs).render_text("log", notification()) == "磁…"


# -- docs ---------------------------------------------------------------------------------


def test_every_variable_and_filter_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    renderer = make_renderer()
    for name in renderer.context(notification(), locale="en"):
        assert f"`{name}`" in docs, name
    for name in (
        "datetime",
        "since",
        "duration",
        "severity_icon",
        "truncate_bytes",
        "slack_escape",
        "markdown_escape",
        "http_url",
        "plural",
        *(name for channel in CHANNELS for name in channel.filters),
    ):
        assert f"`{name}`" in docs, name
    for name in TEMPLATE_NAMES:
        assert f"`{name}`" in docs, name


# -- what a reader sees on a phone at 3 a.m. (issue 10) -------------------------------------


def _render_all(renderer: Renderer, n: Notification, locale: str) -> dict[str, str]:
    return {
        name: renderer.render(name, n, locale=locale, **({"alert": n.alerts[0]} if name in PER_ALERT else {}))
        for name in TEMPLATE_NAMES
    }


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", ["wecom.markdown", "wecom_app.markdown"])
def test_wecom_markdown_links_the_runbook(name: str, locale: str) -> None:
    runbook = "https://runbooks.example.com/disk-full"
    n = notification(
        alert(annotations={"runbook_url": runbook}),
        alert("resolved", ends="2026-11-22T06:28:00Z", annotations={"runbook_url": "javascript:alert(1)"}),
    )
    text = make_renderer().render(name, n, locale=locale)
    word = "Runbook" if locale == "en" else "处理手册"
    assert f"[{word}]({runbook})" in text
    assert "javascript:" not in text
    # An alert without a runbook gets no link, only the graph.
    text = make_renderer().render(name, notification(alert()), locale=locale)
    assert f"[{word}]" not in text and ("[View graph](" in text or "[查看图表](" in text)


def _label_line_problems(name: str, text: str) -> list[str]:
    """Lines that announce labels and then show none."""
    problems = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        plain = re.sub(r"<[^>]*>|[*>`]", "", line).strip()
        if plain.rstrip(":：").strip() in ("Labels", "标签"):
            problems.append(line)
        if re.search(r"\|\s*\|", line):  # log: "name | | since"
            problems.append(line)
        # wecom.text prints the labels on their own line, just before "Started"
        if re.match(r"\s*(Started|开始时间)", plain) and i and not lines[i - 1].strip():
            problems.append(f"blank line before {line!r}")
    return problems


@pytest.mark.parametrize("locale", LOCALES)
def test_an_alert_with_only_alertname_has_no_empty_labels_line(locale: str) -> None:
    # relay test-alert's synthetic alert is little more than this.
    bare = Alert.model_validate(
        {
            "status": "firing",
            "labels": {"alertname": "RelayTestAlert"},
            "annotations": {},
            "startsAt": "2026-11-22T06:25:51Z",
            "endsAt": "0001-01-01T00:00:00Z",
        }
    )
    n = notification(bare)
    n.group_labels, n.common_labels = {}, {"alertname": "RelayTestAlert"}
    for name, text in _render_all(make_renderer(), n, locale).items():
        if name in PHONE and name.endswith(".digest"):
            continue  # a storm's counts
        if name == "slack.footer":  # a link only, whose filter names the alert
            assert "RelayTestAlert" in unquote(text), name
            continue
        assert "RelayTestAlert" in text, name
        assert _label_line_problems(name, text) == [], name
    # The labels still show when there are any.
    full = notification(alert(labels={"instance": "db-1:9100"}))
    for name, text in _render_all(make_renderer(), full, locale).items():
        if name not in HEADERS and name not in PHONE:
            assert "instance=db-1:9100" in text, name


@pytest.mark.parametrize("locale", LOCALES)
def test_no_ambiguous_zone_abbreviation_in_any_message(locale: str) -> None:
    renderer = make_renderer(timezone="Asia/Shanghai")
    n = sample_notification(now=NOW)
    for name, text in _render_all(renderer, n, locale).items():
        assert "CST" not in text, name
        if name not in HEADERS and name not in PHONE:
            assert re.search(r"\d\d:\d\d:\d\d \+08:00", text), name


def format_datetime_directive_by_directive(when: datetime, tz: str, fmt: str) -> str:
    """What format_datetime did before it cut each format once: every directive of
    ``fmt`` looked at for each time formatted."""
    from relay.core.text import utc_offset, zone_label

    local = when.astimezone(ZoneInfo(tz))

    def directive(match: re.Match[str]) -> str:
        if match.group() == "%Z":
            return zone_label(local)
        if match.group() == "%:z":
            return utc_offset(local)
        return match.group()

    return local.strftime(re.sub(r"%(?::z|.)", directive, fmt, flags=re.S))


@settings(derandomize=True, max_examples=1500, deadline=None)
@given(
    st.lists(
        st.sampled_from(["%Z", "%:z", "%%", "%", "%z", "Z", ":", "z", "%H", "%Y", " ", "年", "%%Z"]),
        max_size=12,
    ),
    st.sampled_from(["UTC", "Asia/Shanghai", "Asia/Kathmandu", "America/Havana", "Europe/London"]),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_datetime_formats_cut_once_format_as_directive_by_directive(
    pieces: list[str], tz: str, when: datetime
) -> None:
    fmt = "".join(pieces)
    assert format_datetime(when, tz, fmt=fmt) == format_datetime_directive_by_directive(when, tz, fmt)


def test_datetime_shows_the_offset_never_an_abbreviation(tmp_path: Path) -> None:
    when = datetime(2026, 11, 22, 6, 25, 51, tzinfo=UTC)
    assert format_datetime(when, "Asia/Shanghai") == "2026-11-22 14:25:51 +08:00"
    assert format_datetime(when, "America/Chicago") == "2026-11-22 00:25:51 -06:00"
    assert format_datetime(when, "America/Havana") == "2026-11-22 01:25:51 -05:00"
    assert format_datetime(when, "Asia/Kathmandu") == "2026-11-22 12:10:51 +05:45"
    assert format_datetime(when, "Europe/London") == "2026-11-22 06:25:51 +00:00"
    assert format_datetime(when, "UTC") == "2026-11-22 06:25:51 UTC"
    assert format_datetime(when, "Asia/Shanghai", fmt="%H:%M %:z|%z|%%Z") == "14:25 +08:00|+0800|%Z"
    # A user's own format with %Z gets the offset too.
    globs = user_templates(
        tmp_path,
        {
            "log.txt.j2": "{{ alerts[0].startsAt | datetime('%d %b %H:%M %Z') }}",
        },
    )
    text = make_renderer(timezone="Asia/Shanghai", templates=globs).render_text("log", notification())
    assert text == "22 Nov 14:25 +08:00"


def test_counts_read_right_in_both_languages(tmp_path: Path) -> None:
    from relay.core.text import plural
    from relay.templating.fallback import last_resort as _last_resort

    assert [plural(i, "alert") for i in (0, 1, 2)] == ["0 alerts", "1 alert", "2 alerts"]
    assert plural(1, "more alert") == "1 more alert" and plural(3, "person", "people") == "3 people"
    one, two = notification(alert()), notification(alert(), alert())
    assert _last_resort(one) == "[FIRING:1] DiskFull (1 alert)"
    assert _last_resort(two) == "[FIRING:2] DiskFull (2 alerts)"
    assert _last_resort(one, "zh-CN") == "[告警:1] DiskFull（1 条告警）"
    renderer = make_renderer()
    for count, en in ((1, "1 more alert not shown"), (2, "2 more alerts not shown")):
        n = notification(alert(), truncated=count)
        for name in ("email.txt", "email.html", "wecom.markdown", "wecom_app.markdown"):
            assert en in renderer.render(name, n, locale="en"), (name, count)
            assert f"另有 {count} 条告警未显示" in renderer.render(name, n, locale="zh-CN"), name
    for text in _render_all(renderer, notification(alert(), truncated=1), "en").values():
        assert not re.search(r"\b1 (alerts|more alerts)\b", text)


def test_a_broken_builtin_falls_back_to_a_counted_line(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = make_renderer()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken")

    monkeypatch.setattr(renderer._env, "get_template", broken)
    assert renderer.render("log.txt", notification(alert()), locale="en") == ("[FIRING:1] DiskFull (1 alert)")
    assert renderer.render("log.txt", notification(alert()), locale="zh-CN") == (
        "[告警:1] DiskFull（1 条告警）"
    )


def test_external_url_links_emails_to_the_consoles_pages_not_the_json_api() -> None:
    assert make_config().global_.external_url == ""
    n = notification(alert())
    n.receiver = "on call"
    plain = _render_all(make_renderer(), n, "en")
    assert not any("/api/v1/notifications" in text for text in plain.values())

    renderer = make_renderer(external_url="https://relay.example.com/")
    # The console's pages, which a person opens from a mail; the API answers JSON, and
    # only to a bearer token.
    log = "https://relay.example.com/ui/notifications?receiver=on%20call"
    assert renderer.context(n, locale="en")["delivery_log_url"] == log
    assert renderer.context(n, locale="en")["relay_url"] == "https://relay.example.com"
    for locale, words in (
        ("en", ("Delivery log: ", "Delivery log</a>")),
        ("zh-CN", ("发送记录：", "发送记录</a>")),
    ):
        texts = _render_all(renderer, n, locale)
        assert f"{words[0]}{log}" in texts["email.txt"]
        assert f'<a href="{log}">{words[1]}' in texts["email.html"]
        # Chat messages read on a phone stay short: no link to relay's JSON API there.
        group = renderer.context(n, locale=locale)["group_url"]
        assert group.startswith("https://relay.example.com/ui/group?key=")
        assert group in texts["email.txt"] and f'<a href="{group}">' in texts["email.html"]
        assert not any("/api/v1/" in text for text in texts.values())
        others = [k for k in texts if k not in ("email.txt", "email.html")]
        assert not any("relay.example.com" in texts[k] for k in others)


@pytest.mark.parametrize(("locale", "start"), [("en", "[FIRING:1]"), ("zh-CN", "[告警:1]")])
def test_the_email_subject_names_each_label(locale: str, start: str) -> None:
    n = notification(alert())
    n.group_labels = {"alertname": "DiskFull", "instance": "db-1:9100"}
    n.common_labels = {
        "alertname": "DiskFull",
        "instance": "db-1:9100",
        "severity": "critical",
        "env": "prod",
    }
    subject = make_renderer().render("email.subject", n, locale=locale)
    assert subject.startswith(f"{start} DiskFull instance=db-1:9100")
    assert "env=prod severity=critical" in subject
