"""Config loading: env expansion, secret files, durations, cross-checks, error paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.config import parse_config
from relay.durations import format_duration, parse_duration
from relay.errors import ConfigError

BASE = """
route:
  receiver: default
receivers:
  - name: default
    log_configs: [{}]
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), env=env or {})
    return info.value.problems


def test_embedded_default_is_valid() -> None:
    text = (Path(__file__).resolve().parents[1] / "config" / "relay.yml").read_text()
    config = parse_config(text, env={})
    assert config.storage.url.startswith("sqlite:///")
    assert config.server.auth is None
    assert [r.name for r in config.receivers] == ["default"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("4h", 14400), ("1d", 86400), ("1h30m", 5400), ("500ms", 0.5),
     ("0", 0), (15, 15), ("1w", 604800)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m5", "5 m", "1h-3m", "-5s", "five minutes", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for seconds in (0, 30, 300, 5400, 90061):
        assert parse_duration(format_duration(seconds)) == seconds


def test_env_expansion_with_default_and_escape() -> None:
    config = parse_config(textwrap.dedent("""
        global:
          external_url: ${URL:-http://fallback:9095}
          timezone: ${TZ_NAME}
        route:
          receiver: default
        receivers:
          - name: default
            webhook_configs:
              - url: http://hooks/$${literal}
    """), env={"TZ_NAME": "Asia/Shanghai"})
    assert config.global_.external_url == "http://fallback:9095"
    assert config.global_.timezone == "Asia/Shanghai"
    assert config.receivers[0].webhook_configs[0].url.get_secret_value() == "http://hooks/${literal}"


def test_unset_env_var_is_an_error_naming_it_and_the_path() -> None:
    found = problems(BASE + "server:\n  auth:\n    bearer_token: ${RELAY_TOKEN}\n")
    assert found == [
        "server.auth.bearer_token: environment variable RELAY_TOKEN is not set "
        "(set it, or write ${RELAY_TOKEN:-default})"
    ]


def test_secret_file_twin(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    config = parse_config(BASE + f"""
server:
  auth:
    bearer_token_file: {secret}
""", env={})
    assert config.server.auth is not None
    assert config.server.auth.bearer_token is not None
    assert config.server.auth.bearer_token.get_secret_value() == "from-a-file"


def test_secret_and_file_both_set_is_an_error(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x")
    found = problems(f"""
        route:
          receiver: mail
        receivers:
          - name: mail
            email_configs:
              - to: [a@example.com]
                from: relay@example.com
                smarthost: smtp:587
                auth_password: inline
                auth_password_file: {secret}
    """)
    assert found == [
        "receivers[0].email_configs[0]: set either auth_password or auth_password_file, not both"
    ]


def test_missing_secret_file_names_the_file(tmp_path: Path) -> None:
    found = problems(f"""
        route:
          receiver: hook
        receivers:
          - name: hook
            webhook_configs:
              - url_file: {tmp_path}/missing
    """)
    assert len(found) == 1
    assert "url_file: cannot read" in found[0] and "missing" in found[0]


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems("""
        global:
          timezone: Mars/Olympus
        delivery:
          retry_for: forever
        route:
          receiver: nobody
          routes:
            - receiver: default
              matchers: ['severity="critical"']
            - receiver: default
              matchers: ['team=>"db"']
            - receiver: default
              matchers: ['team=~"(db"']
        receivers:
          - name: default
            log_configs: [{}]
          - name: default
            slack_configs: [{channel: '#x'}]
    """)
    assert any(p.startswith("global.timezone: unknown IANA time zone") for p in found)
    assert any(p.startswith("delivery.retry_for: invalid duration 'forever'") for p in found)
    assert any(p.startswith("receivers[1].slack_configs[0]: set api_url") for p in found)
    # Cross-checks run only once every section parses; check them separately.
    found = problems("""
        route:
          receiver: nobody
          routes:
            - receiver: default
              matchers: ['severity="critical"']
            - receiver: default
              matchers: ['team=>"db"']
            - receiver: default
              matchers: ['team=~"(db"']
        receivers:
          - name: default
            log_configs: [{}]
          - name: default
            log_configs: [{}]
    """)
    assert "receivers[1].name: duplicate receiver name 'default' (first at receivers[0])" in found
    assert "route.receiver: unknown receiver 'nobody' (known: default)" in found
    assert any(p.startswith("route.routes[1].matchers[0]: unknown operator '=>'") for p in found)
    assert any(p.startswith("route.routes[2].matchers[0]: invalid regex") for p in found)


def test_unknown_keys_are_errors() -> None:
    found = problems(BASE + "\nserver:\n  listne: 0.0.0.0:1\n")
    assert found == ["server.listne: unknown key (check the spelling; see docs/configuration.md)"]


def test_invalid_yaml_names_line() -> None:
    found = problems("route:\n  receiver: [\n")
    assert found[0].startswith("<string>:")
    assert "invalid YAML" in found[0]


@pytest.mark.parametrize(
    ("channel", "problem"),
    [
        ("wecom_configs: [{msgtype: markdown}]", "set exactly one of webhook_url or key"),
        ("slack_configs: [{token: xoxb-1}]", "channel is required with token"),
        ("slack_configs: [{api_url: 'http://x', update_on_resolve: true}]",
         "update_on_resolve needs a bot token"),
        ("webhook_configs: [{url: 'ftp://x'}]", "url must start with http"),
        ("email_configs: [{to: [], from: a@b, smarthost: 'h:25'}]", "at least one recipient"),
        ("email_configs: [{to: [x@y], from: a@b, smarthost: 'nohost'}]", "expected host:port"),
        ("wecom_app_configs: [{corp_id: c, api_secret: s}]", "agent_id: required key is missing"),
    ],
)
def test_channel_config_checks(channel: str, problem: str) -> None:
    found = problems(f"""
        route:
          receiver: r
        receivers:
          - name: r
            {channel}
    """)
    assert any(problem in p for p in found), found


def test_all_four_channel_types_and_log_validate() -> None:
    config = parse_config(textwrap.dedent("""
        route:
          receiver: all
        receivers:
          - name: all
            log_configs: [{}]
            email_configs: [{to: ops@example.com, from: relay@example.com, smarthost: 'smtp:587'}]
            slack_configs: [{token: xoxb-1, channel: '#alerts', update_on_resolve: true}]
            wecom_configs: [{key: abc, mention_label: owner}]
            wecom_app_configs: [{corp_id: c, agent_id: 1000002, api_secret: s}]
            webhook_configs: [{url: 'https://hooks.example.com', hmac_secret: h, max_alerts: 5}]
    """), env={})
    ids = [i for i, _ in config.receivers[0].integrations()]
    assert ids == ["all/log/0", "all/email/0", "all/slack/0", "all/wecom/0", "all/wecom_app/0",
                   "all/webhook/0"]
    assert config.receivers[0].email_configs[0].to == ["ops@example.com"]
    assert config.receivers[0].wecom_app_configs[0].to_user == "@all"


def test_check_config_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(BASE)
    result = CliRunner().invoke(main, ["check-config", "--config", str(good)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output
    assert "receivers: 1, integrations: 1, routes: 1" in result.output

    bad = tmp_path / "bad.yml"
    bad.write_text(BASE.replace("receiver: default", "receiver: ghost"))
    result = CliRunner().invoke(main, ["check-config", "--config", str(bad)])
    assert result.exit_code == 1
    assert "route.receiver: unknown receiver 'ghost'" in result.output
    assert "Traceback" not in result.output


def test_broken_template_strings_in_config_are_reported_with_their_place() -> None:
    from relay.runtime import Runtime
    from tests.conftest import make_config

    config = make_config("""
route:
  receiver: team
receivers:
  - name: team
    email_configs:
      - {to: [a@example.com], from: r@example.com, smarthost: 'localhost:25', subject: '{{ status '}
    webhook_configs:
      - {url: 'http://127.0.0.1:1/', body_template: '{"ok": {{ 1 }}}'}
      - {url: 'http://127.0.0.1:1/', body_template: "{% for a in alerts %}"}
""")
    problems = Runtime.check_templates(config)
    assert len(problems) == 2, problems
    assert problems[0].startswith("receivers[0].email_configs[0].subject: line 1:")
    assert problems[1].startswith("receivers[0].webhook_configs[1].body_template: line 1:")


def test_a_bad_redis_url_option_is_a_config_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("storage:\n  url: redis://127.0.0.1:6379/0?bogus_option=1\n"
                     "route: {receiver: a}\nreceivers: [{name: a}]\n", env={})
    assert caught.value.problems[0].startswith("storage.url: ")
    assert "bogus_option" in caught.value.problems[0]
