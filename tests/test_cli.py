"""The CLI: `relay render` for every channel and locale, template and payload errors, and
`relay test-alert --receiver` against local sinks and a mocked failing endpoint."""

from __future__ import annotations

import json
import re
import socket
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import httpx
import pytest
import respx
from click.testing import CliRunner, Result

from relay.channels import CHANNELS_BY_KIND, TEMPLATE_NAMES
from relay.cli.commands import main, render
from relay.cli.common import when as _when
from relay.core.alerts import fingerprint_of
from relay.templating.sample import sample_payload
from tests.helpers.process import RelayProcess, free_port, wait_for
from tests.helpers.sink import Answer, Sink

CHANNELS = list(CHANNELS_BY_KIND)  # every registered channel
JSON_CHANNELS = set(CHANNELS) - {"log", "email"}
#: Calls and SMS carry a template's few short variables, not the whole message.
PHONE_CHANNELS = {"tencent_voice", "tencent_sms", "aliyun_voice", "aliyun_sms", "twilio"}


def write_config(tmp_path: Path, text: str, name: str = "relay.yml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def minimal_config(tmp_path: Path, locale: str = "en", templates: list[str] | None = None) -> str:
    return write_config(
        tmp_path,
        f"""
        global: {{locale: {locale}, timezone: Asia/Shanghai}}
        templates: {json.dumps(templates or [])}
        route: {{receiver: default}}
        receivers: [{{name: default, log_configs: [{{}}]}}]
    """,
    )


# -- render: every channel, both locales ----------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_render_every_channel_from_the_sample(tmp_path: Path, channel: str, locale: str) -> None:
    result = run("render", "--channel", channel, "--config", minimal_config(tmp_path, locale))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Traceback" not in result.output
    if channel in PHONE_CHANNELS:
        # A call per number, reading the group and the first firing alert's summary,
        # each variable within the vendor's limit; numbers masked.
        bodies = json.loads(out)
        for body in bodies:
            if body["medium"] == "check":  # how the call ended, asked after it
                assert body["request"] == {"ProdId": "11000000300006"}
                continue
            request = body["request"]
            if "TemplateParamSet" in request:  # Tencent: in order
                params = request["TemplateParamSet"]
            elif "TtsParam" in request or "TemplateParam" in request:  # Alibaba: named
                params = list(json.loads(request.get("TtsParam") or request["TemplateParam"]).values())
            else:  # Twilio: said or written
                params = [request.get("Body") or request["Twiml"]]
            assert params and all(len(p) > 0 for p in params)
            if channel != "twilio":
                assert len(params) == 2 and all(len(p) <= 20 for p in params)
        assert "****" in out
        for number in ("+8613800000001", "13800000001", "+14155550101"):
            assert number not in out, number
        assert "variables in characters" in result.stderr
        return
    # Every alert of the sample is in the message, firing and resolved.
    for name in ("DiskWillFillIn4Hours", "HighCPUUsage", "CertificateExpiringSoon"):
        assert name in out, name
    if channel in JSON_CHANNELS:
        body = json.loads(out)
        assert body
    if channel == "webhook":
        # The default body is the v4 payload plus a relay object: no locale in it.
        assert body["version"] == "4" and len(body["alerts"]) == 4
        assert body["relay"]["receiver"] == "default"
        assert body["relay"]["idempotency_key"]
        assert "application/json" in result.stderr
        return
    if locale == "zh-CN":
        assert "已恢复" in out
        assert "+08:00" in out and "CST" not in out  # global.timezone, with its offset
    else:
        assert "resolved" in out.lower()
        assert "已恢复" not in out


def test_render_locale_option_overrides_global(tmp_path: Path) -> None:
    result = run(
        "render", "--channel", "slack", "--locale", "zh-CN", "--config", minimal_config(tmp_path, "en")
    )
    assert result.exit_code == 0, result.output
    assert "已恢复" in result.stdout


def test_render_email_shows_subject_text_and_html(tmp_path: Path) -> None:
    result = run("render", "--channel", "email", "--config", minimal_config(tmp_path))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"^Subject: \[FIRING:3\] team=infra$", out, re.M), out[:300]
    assert re.search(r"^In-Reply-To: <group-[0-9a-f]+@example\.com>$", out, re.M)
    text_at, html_at = out.index("--- text/plain ---"), out.index("--- text/html ---")
    assert text_at < html_at
    assert "Firing (3)" in out[text_at:html_at]
    assert "<!DOCTYPE html>" in out[html_at:]


def test_render_slack_posts_are_block_kit(tmp_path: Path) -> None:
    result = run("render", "--channel", "slack", "--config", minimal_config(tmp_path))
    assert result.exit_code == 0, result.output
    posts = json.loads(result.stdout)
    assert len(posts) == 1
    blocks = posts[0]["attachments"][0]["blocks"]
    assert blocks[0]["type"] == "header"
    # One section per alert, then the footer: the group's silence link.
    assert [b["type"] for b in blocks[1:]] == ["section"] * 4 + ["context"]
    assert "slack: 1 post" in result.stderr


# -- render with a receiver: that integration's own config ----------------------------


RECEIVER_CONFIG = """
    global: {locale: en}
    route: {receiver: team}
    receivers:
      - name: team
        email_configs:
          - {to: [dba@example.com], from: relay@example.org, smarthost: "127.0.0.1:25",
             locale: zh-CN, subject: "DB {{ status }} {{ alerts | length }}"}
        slack_configs:
          - {api_url: "https://hooks.slack.com/services/T/B/secret", username: relay-bot}
        wecom_configs:
          - {key: abc, msgtype: text, mentioned_mobile_list: ["13800000000"]}
        wecom_app_configs:
          - {corp_id: ww1, agent_id: 42, api_secret: s, to_party: "7", msgtype: text}
        webhook_configs:
          - url: https://hooks.example.com/a
            body_template: '{"text": "{{ status }} {{ alerts | length }} {{ relay.receiver }}"}'
"""


def test_render_receiver_uses_its_integration_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, RECEIVER_CONFIG)

    email = run("render", "--channel", "email", "--receiver", "team", "--config", config)
    assert email.exit_code == 0, email.output
    assert "Subject: DB firing 4" in email.stdout
    assert "To: dba@example.com" in email.stdout
    assert "已恢复" in email.stdout  # the integration's locale, not global.locale

    slack = run("render", "--channel", "slack", "--receiver", "team", "--config", config)
    assert json.loads(slack.stdout)[0]["username"] == "relay-bot"

    wecom = run("render", "--channel", "wecom", "--receiver", "team", "--config", config)
    bodies = json.loads(wecom.stdout)
    assert {b["msgtype"] for b in bodies} == {"text"}
    assert bodies[0]["text"]["mentioned_mobile_list"] == ["13800000000"]
    assert "(limit 2048)" in wecom.stderr

    app = run("render", "--channel", "wecom_app", "--receiver", "team", "--config", config)
    assert json.loads(app.stdout)[0] | {"text": None} == {
        "toparty": "7",
        "agentid": 42,
        "msgtype": "text",
        "text": None,
    }

    hook = run("render", "--channel", "webhook", "--receiver", "team", "--config", config)
    assert json.loads(hook.stdout) == {"text": "firing 4 team"}


def test_render_picks_an_integration_by_id(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        route: {receiver: team}
        receivers:
          - name: team
            wecom_configs: [{key: a}, {key: b, msgtype: text}]
            webhook_configs: [{url: "https://hooks.example.com/"}]
    """,
    )
    first = run("render", "--channel", "wecom", "--receiver", "team", "--config", config)
    assert json.loads(first.stdout)[0]["msgtype"] == "markdown"
    assert "showing team/wecom/0 (pass --receiver team/wecom/N for another)" in first.stderr
    second = run("render", "--channel", "wecom", "--receiver", "team/wecom/1", "--config", config)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)[0]["msgtype"] == "text"
    hook = run("render", "--channel", "webhook", "--receiver", "team/webhook/0", "--config", config)
    assert json.loads(hook.stdout)["relay"]["receiver"] == "team"
    assert json.loads(hook.stdout)["relay"]["integration"] == "team/webhook/0"


def test_render_receiver_without_that_channel(tmp_path: Path) -> None:
    config = minimal_config(tmp_path)
    result = run("render", "--channel", "slack", "--receiver", "default", "--config", config)
    assert result.exit_code == 1
    assert "receiver 'default' has no slack integration (it has: log)" in result.stderr
    unknown = run("render", "--channel", "slack", "--receiver", "ghost", "--config", config)
    assert unknown.exit_code == 1
    assert "unknown receiver 'ghost' (known: default)" in unknown.stderr


# -- render: WeCom split parts --------------------------------------------------------


def big_payload(count: int) -> dict[str, Any]:
    start = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    alerts = []
    for i in range(count):
        labels = {"alertname": f"DiskFull{i:03d}", "instance": f"db-{i}:9100", "severity": "critical"}
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {
                    "summary": f"磁盘 {i} 快满了",
                    "description": "剩余空间不足，请尽快扩容。" * 12,
                },
                "startsAt": (start + timedelta(minutes=i)).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": fingerprint_of(labels),
            }
        )
    return {
        "version": "4",
        "groupKey": '{}:{alertname=~"DiskFull.*"}',
        "truncatedAlerts": 5,
        "receiver": "ops",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {},
        "commonLabels": {"severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }


@pytest.mark.parametrize(("msgtype", "limit"), [("markdown", 4096), ("text", 2048)])
def test_render_wecom_prints_every_split_part(tmp_path: Path, msgtype: str, limit: int) -> None:
    config = write_config(
        tmp_path,
        f"""
        route: {{receiver: ops}}
        receivers: [{{name: ops, wecom_configs: [{{key: k, msgtype: {msgtype}}}]}}]
    """,
    )
    payload = tmp_path / "big.json"
    payload.write_text(json.dumps(big_payload(30), ensure_ascii=False), encoding="utf-8")
    result = run(
        "render", "--channel", "wecom", "--receiver", "ops", "--payload", str(payload), "--config", config
    )
    assert result.exit_code == 0, result.output
    parts = [body[msgtype]["content"] for body in json.loads(result.stdout)]
    assert len(parts) >= 2
    for index, content in enumerate(parts, 1):
        assert len(content.encode("utf-8")) <= limit
        assert f"({index}/{len(parts)})" in content.splitlines()[0]
        assert "[FIRING:30]" in content.splitlines()[0]  # every part counts the whole group
    for i in range(30):
        assert sum(f"DiskFull{i:03d}" in content for content in parts) == 1, i
    last = parts[-1].splitlines()
    assert any("and 5 more" in line for line in last[:-1])  # "and 5 more" in the last part
    # ... and the group's silence link ends the message.
    assert "silences/new?filter=%7Bseverity%3D%22critical%22%7D" in last[-1]
    sizes = [str(len(c.encode("utf-8"))) for c in parts]
    summary = f"{len(parts)} messages, content bytes {', '.join(sizes)} (limit {limit})"
    assert summary in result.stderr


# -- render: broken templates -----------------------------------------------------------


def test_render_broken_template_exits_nonzero_with_file_and_line(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "slack.alert.j2").write_text("{{ alert.labels.alertname }}\n{% if %}\n")
    config = minimal_config(tmp_path, templates=[f"{custom}/*.j2"])
    result = run("render", "--channel", "slack", "--config", config)
    assert result.exit_code == 1
    assert f"{custom}/slack.alert.j2:2: TemplateSyntaxError" in result.stderr
    # What would go out at delivery time: the built-in template, still a full message.
    assert len(json.loads(result.stdout)[0]["attachments"][0]["blocks"]) == 6  # + footer
    assert "Traceback" not in result.output


def test_render_template_failing_only_on_this_payload(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    # Fine on the sample (4 alerts), fails on a payload with more than 10.
    (custom / "email.subject.j2").write_text(
        "{{ status }}\n{{ (1 / 0) if alerts | length > 10 else alerts | length }}\n"
    )
    config = minimal_config(tmp_path, templates=[f"{custom}/*.j2"])
    ok = run("render", "--channel", "email", "--config", config)
    assert ok.exit_code == 0, ok.output
    assert "Subject: firing 4" in ok.stdout

    payload = tmp_path / "big.json"
    payload.write_text(json.dumps(big_payload(12)), encoding="utf-8")
    bad = run("render", "--channel", "email", "--payload", str(payload), "--config", config)
    assert bad.exit_code == 1
    assert f"{custom}/email.subject.j2:2: ZeroDivisionError" in bad.stderr
    assert "Subject: [FIRING:12]" in bad.stdout  # the built-in subject took over


def test_render_broken_body_template_in_config(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        route: {receiver: hooks}
        receivers:
          - name: hooks
            webhook_configs:
              - {url: "https://hooks.example.com/", body_template: "{{ status | nope }}"}
    """,
    )
    result = run("render", "--channel", "webhook", "--receiver", "hooks", "--config", config)
    assert result.exit_code == 1
    expected = "<webhook.body from config>:1: TemplateAssertionError: No filter named 'nope'"
    assert expected in result.stderr
    assert json.loads(result.stdout)["version"] == "4"  # the fallback: the default body


def test_check_config_reports_broken_templates(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    (custom / "zh-CN").mkdir(parents=True)
    (custom / "zh-CN" / "wecom.markdown.j2").write_text("ok\n\n{{ alerts | no_such_filter }}\n")
    config = minimal_config(tmp_path, templates=[f"{custom}/**/*.j2"])
    result = run("check-config", "--config", config)
    assert result.exit_code == 1
    assert f"{custom}/zh-CN/wecom.markdown.j2:3: TemplateAssertionError" in result.stderr


# -- render: bad payload files ----------------------------------------------------------


def test_render_payload_schema_error_names_file_and_field(tmp_path: Path) -> None:
    data = sample_payload()
    data["alerts"][2]["startsAt"] = "yesterday"
    del data["alerts"][0]["labels"]
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = run("render", "--channel", "slack", "--payload", str(path), "--config", minimal_config(tmp_path))
    assert result.exit_code == 1
    assert f"{path}: not an Alertmanager v4 webhook" in result.stderr
    assert f"{path}: alerts[0].labels: Field required" in result.stderr
    assert f"{path}: alerts[2].startsAt: Input should be a valid datetime" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"version": "4",\n  "alerts": [}', ":2:14: invalid JSON: Expecting value"),
        (b"\xff\xfe{}", ": not UTF-8 text"),
        (b"[1, 2]", ": body: Input should be a valid dictionary"),
    ],
)
def test_render_unreadable_payload(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "payload.json"
    path.write_bytes(content)
    result = run("render", "--channel", "log", "--payload", str(path), "--config", minimal_config(tmp_path))
    assert result.exit_code == 1
    assert f"{path}{expected}" in result.stderr
    assert "Traceback" not in result.output


def test_render_missing_payload_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    result = run("render", "--channel", "log", "--payload", str(path), "--config", minimal_config(tmp_path))
    assert result.exit_code == 1
    assert f"{path}: cannot read: No such file or directory" in result.stderr


def test_render_payload_of_a_resolved_group(tmp_path: Path) -> None:
    data = sample_payload()
    for alert in data["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = alert["startsAt"]
    data["status"] = "resolved"
    path = tmp_path / "resolved.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = run("render", "--channel", "email", "--payload", str(path), "--config", minimal_config(tmp_path))
    assert result.exit_code == 0, result.output
    assert "Subject: [RESOLVED] team=infra" in result.stdout


# -- test-alert --receiver ----------------------------------------------------------------


def test_test_alert_receiver_sends_through_every_integration(tmp_path: Path) -> None:
    with Sink() as hook, Sink(Answer(body={"errcode": 0, "errmsg": "ok"})) as robot:
        config = write_config(
            tmp_path,
            f"""
            route: {{receiver: oncall}}
            receivers:
              - name: oncall
                webhook_configs: [{{url: "{hook.url}/alerts", hmac_secret: hush}}]
                wecom_configs: [{{webhook_url: "{robot.url}/cgi-bin/webhook/send?key=k1"}}]
        """,
        )
        result = run("test-alert", "--receiver", "oncall", "--label", "team=db", "--config", config)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == ["oncall/wecom/0: ok", "oncall/webhook/0: ok"]
        sent = hook.received[0]
        body = sent.json()
        assert body["alerts"][0]["labels"] == {
            "alertname": "RelayTestAlert",
            "severity": "warning",
            "team": "db",
        }
        assert body["relay"]["receiver"] == "oncall"
        assert sent.headers["Idempotency-Key"] == body["relay"]["idempotency_key"]
        assert sent.headers["X-Relay-Signature"].startswith("sha256=")
        content = robot.received[0].json()["markdown"]["content"]
        assert "RelayTestAlert" in content


def test_test_alert_receiver_reports_each_failure(tmp_path: Path) -> None:
    # A port bound and never listened on refuses connections, and no server started
    # meanwhile can take it (a port merely found free could be).
    with (
        socket.socket() as reserved,
        Sink(Answer(status=500, body="upstream exploded")) as hook,
        Sink(Answer(body={"errcode": 93000, "errmsg": "bad url, key=robotkey2"})) as robot,
        Sink(Answer(status=404, body="no_service")) as slack,
        Sink() as fine,
    ):
        reserved.bind(("127.0.0.1", 0))
        closed = reserved.getsockname()[1]
        config = write_config(
            tmp_path,
            f"""
            route: {{receiver: oncall}}
            receivers:
              - name: oncall
                email_configs: [{{to: a@example.com, from: r@example.com,
                                  smarthost: "127.0.0.1:{closed}", require_tls: false}}]
                slack_configs: [{{api_url: "{slack.url}/services/T/B/x"}}]
                wecom_configs: [{{webhook_url: "{robot.url}/send?key=robotkey2"}}]
                webhook_configs: [{{url: "{hook.url}/"}}, {{url: "{fine.url}/"}}]
        """,
        )
        result = run("test-alert", "--receiver", "oncall", "--config", config)
    assert result.exit_code == 1
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["oncall/email/0"].startswith("failed (retryable, connect): ")
    assert lines["oncall/slack/0"] == (
        "failed (permanent, slack_no_service): Slack incoming webhook: HTTP 404: no_service"
    )
    # The downstream's own words, with the robot key redacted.
    assert lines["oncall/wecom/0"] == (
        "failed (permanent, errcode_93000): WeCom robot: errcode 93000: bad url, key=<redacted> "
        "(the robot's key is invalid or the robot was removed: check key / webhook_url)"
    )
    assert lines["oncall/webhook/0"] == (
        "failed (retryable, http_500): webhook: HTTP 500 Internal Server Error: upstream exploded"
    )
    assert lines["oncall/webhook/1"] == "ok"
    assert "robotkey2" not in result.output


def test_test_alert_receiver_timeout_from_a_mocked_endpoint(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        delivery: {timeout: 2s}
        route: {receiver: hooks}
        receivers:
          - name: hooks
            webhook_configs: [{url: "https://hooks.example.com/alerts?token=t0ps3cret"}]
    """,
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post("https://hooks.example.com/alerts").mock(side_effect=httpx.ReadTimeout("read timed out"))
        result = run("test-alert", "--receiver", "hooks", "--config", config)
    assert result.exit_code == 1
    assert result.stdout.strip() == (
        "hooks/webhook/0: failed (retryable, timeout): webhook did not answer in 2s "
        "(ReadTimeout('read timed out'))"
    )
    assert "t0ps3cret" not in result.output


def test_test_alert_receiver_skips_when_send_resolved_is_off(tmp_path: Path) -> None:
    with Sink() as hook:
        config = write_config(
            tmp_path,
            f"""
            route: {{receiver: r}}
            receivers:
              - name: r
                webhook_configs:
                  - {{url: "{hook.url}/a", send_resolved: false}}
                  - {{url: "{hook.url}/b"}}
        """,
        )
        result = run("test-alert", "--receiver", "r", "--resolved", "--config", config)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "r/webhook/0: skipped (send_resolved: false)",
            "r/webhook/1: ok",
        ]
        assert [r.path for r in hook.received] == ["/b"]
        assert hook.received[0].json()["status"] == "resolved"


def test_test_alert_unknown_receiver_and_receiver_without_integrations(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        route: {receiver: default}
        receivers: [{name: default, log_configs: [{}]}, {name: blackhole}]
    """,
    )
    unknown = run("test-alert", "--receiver", "ghost", "--config", config)
    assert unknown.exit_code == 2
    assert "unknown receiver 'ghost' (known: default, blackhole)" in unknown.stderr
    empty = run("test-alert", "--receiver", "blackhole", "--config", config)
    assert empty.exit_code == 1
    assert "receiver 'blackhole' has no integrations" in empty.stderr
    logged = run("test-alert", "--receiver", "default", "--config", config)
    assert logged.exit_code == 0, logged.output
    assert logged.stdout.strip() == "default/log/0: ok"


def test_test_alert_receiver_warns_when_a_template_fell_back(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "log.txt.j2").write_text("{{ alerts[0].labels.alertname }}\n{{ 1 // 0 }}\n")
    config = write_config(
        tmp_path,
        f"""
        templates: ["{custom}/*.j2"]
        route: {{receiver: default}}
        receivers: [{{name: default, log_configs: [{{}}]}}]
    """,
    )
    result = run("test-alert", "--receiver", "default", "--config", config)
    assert result.exit_code == 0, result.output  # delivered with the built-in
    assert "default/log/0: ok" in result.stdout
    assert (
        f"template failed, the built-in was sent: {custom}/log.txt.j2:2: ZeroDivisionError" in result.stderr
    )


def test_render_offers_a_channel_for_every_template_family() -> None:
    # A new built-in template family (a new channel) must be previewable too.
    option = next(p for p in render.params if p.name == "channel")
    assert isinstance(option.type, click.Choice)
    assert set(option.type.choices) == {name.split(".")[0] for name in TEMPLATE_NAMES}


def test_the_example_templates_in_the_docs_render(tmp_path: Path) -> None:
    # Each ```jinja block of docs/templates.md starts with the path it is saved as.
    docs = (Path(__file__).resolve().parent.parent / "docs" / "templates.md").read_text("utf-8")
    blocks = re.findall(r"```jinja\n\{#- (templates/\S+\.j2)[^\n]*-#\}\n(.*?)```", docs, re.S)
    assert len(blocks) >= 7
    for name, source in blocks:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    hook = re.search(r"    body_template: \|\n((?:      .*\n)+)", docs)
    assert hook is not None
    body = textwrap.indent(textwrap.dedent(hook.group(1)), " " * 20)
    config = write_config(
        tmp_path,
        f"""
        global: {{timezone: Asia/Shanghai, locale: en}}
        templates: ["{tmp_path}/templates/*.j2", "{tmp_path}/templates/*/*.j2"]
        route: {{receiver: team}}
        receivers:
          - name: team
            log_configs: [{{}}]
            email_configs: [{{to: a@example.com, from: r@example.com, smarthost: "h:25"}}]
            slack_configs: [{{api_url: "https://hooks.slack.com/services/T/B/X"}}]
            wecom_configs: [{{key: a, locale: zh-CN}}, {{key: b, msgtype: text}}]
            webhook_configs:
              - url: https://chat.example.com/hooks/alerts
                body_template: |
{body}
    """,
    )
    assert run("check-config", "--config", config).exit_code == 0
    outputs = {}
    for channel in ("email", "slack", "wecom", "team/wecom/1", "webhook"):
        kind = channel.split("/")[1] if "/" in channel else channel
        receiver = channel if "/" in channel else "team"
        result = run(
            "render",
            "--channel",
            kind,
            "--receiver",
            receiver,
            "--config",
            config,
            "--at",
            "2026-11-25T10:00:00Z",
        )
        assert result.exit_code == 0, (channel, result.output)
        outputs[channel] = result.stdout
    assert "Subject: [FIRING:3] team=infra" in outputs["email"]
    assert "started 23 Nov" in outputs["email"] and "<h2>FIRING: team=infra</h2>" in outputs["email"]
    header = json.loads(outputs["slack"])[0]["attachments"][0]["blocks"][0]["text"]["text"]
    assert header == "🔥 3 firing, 1 resolved: team=infra"
    assert json.loads(outputs["wecom"])[0]["markdown"]["content"].startswith("### 🔥 告警：team=infra")
    assert json.loads(outputs["team/wecom/1"])[0]["text"]["content"].startswith("[FIRING] team")
    hook_body = json.loads(outputs["webhook"])
    assert hook_body["title"] == "[FIRING] team" and len(hook_body["alerts"]) == 4


def test_render_at_a_given_time_is_the_same_whenever_it_runs(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        global: {timezone: UTC}
        route: {receiver: team}
        receivers: [{name: team, log_configs: [{}]}]
    """,
    )
    first = run("render", "--channel", "log", "--config", config, "--at", "2030-01-02T03:04:05Z")
    assert first.exit_code == 0, first.output
    # CertificateExpiringSoon starts 2 days 3 hours before; the resolved one lasted 11m 59s.
    assert "since 2029-12-31 00:04:05 UTC" in first.stdout
    assert "resolved 2030-01-02 02:34:04 UTC after 11m 59s" in first.stdout
    bad = run("render", "--channel", "log", "--config", config, "--at", "yesterday")
    assert bad.exit_code == 2 and "'yesterday' is not an RFC 3339 time" in bad.output
    naive = run("render", "--channel", "log", "--config", config, "--at", "2030-01-02T03:04:05")
    assert naive.exit_code == 2 and "has no time zone" in naive.output


# -- commands that talk to a running relay ------------------------------------------------

LIVE_CONFIG = """
    global: {timezone: Asia/Shanghai}
    storage: {url: "sqlite:///./relay.db"}
    route:
      receiver: team
      routes:
        - matchers: ['target="broken"']
          receiver: broken
    receivers:
      - name: team
        log_configs: [{}]
      - name: broken
        webhook_configs: [{url: "http://127.0.0.1:%d/hook"}]
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RelayProcess, str]]:
    """A real relay (Asia/Shanghai) and its config file, shared by this section's tests."""
    tmp_path = tmp_path_factory.mktemp("live")
    config = write_config(tmp_path, LIVE_CONFIG % free_port())
    relay = RelayProcess(Path(config)).start()
    try:
        yield relay, config
    finally:
        relay.stop()


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/api/v1/alerts/webhook",
        "/api/v1/alerts/webhook/",
        "/api/v1/alerts/webhook/team",
        "/api/v1/alerts/webhook/team/",
    ],
)
def test_test_alert_takes_a_base_url_or_a_webhook_url(live: tuple[RelayProcess, str], path: str) -> None:
    relay, _ = live
    result = run("test-alert", "--url", relay.url + path)
    assert result.exit_code == 0, result.output
    receiver = "/team" if "team" in path else ""
    assert result.stdout.splitlines() == [
        f"posted to {relay.url}/api/v1/alerts/webhook{receiver}",
        "accepted: 1 alert, 1 notification",
    ]


def test_every_test_alert_is_a_new_alert(live: tuple[RelayProcess, str]) -> None:
    relay, _ = live
    before = {job["id"] for job in relay.jobs()}
    for _ in range(2):
        result = run("test-alert", "--url", relay.url, "--label", "case=twice")
        assert result.exit_code == 0, result.output
        assert "accepted: 1 alert, 1 notification" in result.stdout
    new = [job for job in relay.jobs() if job["id"] not in before]
    assert len(new) == 2


def test_test_alert_says_why_nothing_was_sent(live: tuple[RelayProcess, str]) -> None:
    relay, config = live
    args = ("test-alert", "--url", relay.url, "--label", "test_id=same", "--config", config)
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 0, again.output
    lines = again.stdout.splitlines()
    assert lines[1] == "accepted: 1 alert, 0 notifications"
    # team/log/0: duplicate (last sent 2026-11-22 14:25:51 +08:00), in global.timezone
    assert re.fullmatch(
        r"  team/log/0: duplicate \(last sent "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00\)",
        lines[2],
    ), lines


def test_test_alert_prints_relay_error_message(live: tuple[RelayProcess, str]) -> None:
    relay, _ = live
    result = run("test-alert", "--url", f"{relay.url}/api/v1/alerts/webhook/ghost")
    assert result.exit_code == 1
    assert result.stdout == f"posted to {relay.url}/api/v1/alerts/webhook/ghost\n"
    assert result.stderr == "404 Not Found: unknown receiver 'ghost'\n"


def test_notifications_list_names_group_status_and_last_error(
    live: tuple[RelayProcess, str],
) -> None:
    relay, config = live
    assert run("test-alert", "--url", relay.url, "--label", "target=broken").exit_code == 0
    assert wait_for(
        lambda: any(job["integration"] == "broken/webhook/0" and job["attempts"] for job in relay.jobs())
    )
    result = run("notifications", "list", "--url", relay.url, "--config", config)
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "CREATED", "INTEGRATION", "GROUP", "ATTEMPTS", "LAST", "ERROR"]
    broken = next(row for row in rows if "broken/webhook/0" in row)
    # <id>  pending  2026-11-22 14:25:51 +08:00  broken/webhook/0  {alertname="..."}  1  <error>
    match = re.fullmatch(
        r"[0-9a-f]{32}  (pending|dead) +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00  "
        r'broken/webhook/0 +\{alertname="RelayTestAlert"\} +(\d+) +(.+)',
        broken,
    )
    assert match, broken
    assert int(match[2]) >= 1 and "connect" in match[3].lower()
    # Every row starts under its column: the table is aligned on the header.
    assert all(row.index("+08:00") == header.index("CREATED") + 20 for row in rows)


def test_times_are_shown_with_their_utc_offset() -> None:
    assert _when(0, ZoneInfo("Asia/Shanghai")) == "1970-01-01 08:00:00 +08:00"
    assert _when(1_800_000_000.5, ZoneInfo("America/St_Johns")) == "2027-01-15 04:30:00 -03:30"
    assert _when(0, None).endswith(datetime.fromtimestamp(0).astimezone().strftime("%z")[3:])


@pytest.mark.parametrize(
    "args",
    [
        ("test-alert",),
        ("notifications", "list"),
        ("notifications", "retry", "0123abcd"),
    ],
)
def test_commands_say_in_one_line_that_relay_is_unreachable(args: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run(*args, "--url", url)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert re.fullmatch(
        rf"cannot reach relay at {re.escape(url)}/api/v1/\S+: connection refused\n", result.stderr
    ), result.stderr


def test_a_password_in_the_url_is_never_printed() -> None:
    port = free_port()
    result = run("test-alert", "--url", f"http://am:hush@127.0.0.1:{port}")
    assert result.exit_code == 1
    assert "hush" not in result.output
    assert result.stderr == (
        f"cannot reach relay at http://127.0.0.1:{port}/api/v1/alerts/webhook: connection refused\n"
    )
