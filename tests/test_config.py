"""Config loading: env expansion, secret files, durations, cross-checks, error paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli.commands import main
from relay.config import parse_config
from relay.core.durations import format_duration, parse_duration
from relay.core.errors import ConfigError

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
    [
        ("30s", 30),
        ("5m", 300),
        ("4h", 14400),
        ("1d", 86400),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("0", 0),
        (15, 15),
        ("1w", 604800),
    ],
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
    config = parse_config(
        textwrap.dedent("""
        global:
          external_url: ${URL:-http://fallback:9095}
          timezone: ${TZ_NAME}
        route:
          receiver: default
        receivers:
          - name: default
            webhook_configs:
              - url: http://hooks/$${literal}
    """),
        env={"TZ_NAME": "Asia/Shanghai"},
    )
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
    config = parse_config(
        BASE
        + f"""
server:
  auth:
    bearer_token_file: {secret}
""",
        env={},
    )
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
    # Cross-checks run in the same pass, also while other sections are invalid.
    assert "route.receiver: unknown receiver 'nobody' (known: default)" in found
    assert "receivers[1].name: duplicate receiver name 'default' (first at receivers[0])" in found
    assert any(p.startswith("route.routes[1].matchers[0]: unknown operator '=>'") for p in found)
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
    assert found == ["server.listne: unknown key; did you mean listen?"]
    found = problems(BASE + "\nserver:\n  zzz: 1\n")
    assert found == ["server.zzz: unknown key (check the spelling; see docs/configuration.md)"]


@pytest.mark.parametrize(
    ("receiver", "where", "guess"),
    [
        ("wecom_config: [{key: abc}]", "receivers[0].wecom_config", "wecom_configs"),
        (
            "slack_configs: [{api_url: 'https://x', chanel: '#a'}]",
            "receivers[0].slack_configs[0].chanel",
            "channel",
        ),
        (
            "webhook_configs: [{url: 'https://x', hmac_secret_fil: /s}]",
            "receivers[0].webhook_configs[0].hmac_secret_fil",
            "hmac_secret_file",
        ),
    ],
)
def test_unknown_key_suggests_the_closest_key_of_its_section(receiver: str, where: str, guess: str) -> None:
    found = problems(f"""
        route:
          receiver: r
        receivers:
          - name: r
            {receiver}
    """)
    assert f"{where}: unknown key; did you mean {guess}?" in found, found


def test_invalid_yaml_names_line() -> None:
    found = problems("route:\n  receiver: [\n")
    assert found[0].startswith("<string>:")
    assert "invalid YAML" in found[0]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "route:\n\treceiver: a\n",
            "relay.yml:2:1: invalid YAML: a tab character (indent with spaces; YAML does not allow tabs)",
        ),
        (
            "route:\n  receiver: a\n  group_by: [alertname, team\nreceivers: []\n",
            "relay.yml:3:13: invalid YAML: unclosed '[' (close it with ']')",
        ),
        ("route: {receiver: a\n", "relay.yml:1:8: invalid YAML: unclosed '{' (close it with '}')"),
        (
            "route:\n  receiver a\n  group_by: []\n",
            "relay.yml:3:11: invalid YAML: unexpected ':' (is ':' missing after the key on line 2?)",
        ),
        (
            "route:\n  receiver: a\nreceivers\n  - name: a\n",
            "relay.yml:3:1: invalid YAML: missing ':' after a key (write 'key: value')",
        ),
        (
            "route:\n  receiver: oncall\n   group_wait: 30s\nreceivers: []\n",
            "relay.yml:3:4: invalid YAML: bad indentation (indented 3 spaces, deeper than "
            "'receiver:' on line 2, which has a value already: indent it 2 spaces, like 'receiver:')",
        ),
        (
            "route:\n  receiver: a\n  routes:\n  - receiver: b\n\n     # why\n     group_wait: 1m\n",
            "relay.yml:7:6: invalid YAML: bad indentation (indented 5 spaces, deeper than "
            "'receiver:' on line 4, which has a value already: indent it 4 spaces, like 'receiver:')",
        ),
        (
            "route:\n  receiver: a: b\n",
            "relay.yml:2:14: invalid YAML: unexpected ':' (a value that contains ': ' must be quoted)",
        ),
    ],
)
def test_yaml_errors_are_one_line_with_file_line_column_and_a_hint(text: str, line: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="relay.yml", env={})
    assert info.value.problems == [line]


@pytest.mark.parametrize(
    ("channel", "problem"),
    [
        ("wecom_configs: [{msgtype: markdown}]", "set exactly one of webhook_url or key"),
        ("slack_configs: [{token: xoxb-1}]", "channel is required with token"),
        (
            "slack_configs: [{api_url: 'http://x', update_on_resolve: true}]",
            "update_on_resolve needs a bot token",
        ),
        ("webhook_configs: [{url: 'ftp://x'}]", "url must start with http"),
        ("email_configs: [{to: [], from: a@b, smarthost: 'h:25'}]", "at least one recipient"),
        ("email_configs: [{to: [x@y], from: a@b, smarthost: 'nohost'}]", "expected host:port"),
        ("email_configs: [{to: [x@y], from: a@b, smarthost: 'smtp://mail:25'}]", "not a URL"),
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
    config = parse_config(
        textwrap.dedent("""
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
    """),
        env={},
    )
    ids = [i for i, _ in config.receivers[0].integrations()]
    assert ids == [
        "all/log/0",
        "all/email/0",
        "all/slack/0",
        "all/wecom/0",
        "all/wecom_app/0",
        "all/webhook/0",
    ]
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
    from relay.pipeline.runtime import Runtime
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
        parse_config(
            "storage:\n  url: redis://127.0.0.1:6379/0?bogus_option=1\n"
            "route: {receiver: a}\nreceivers: [{name: a}]\n",
            env={},
        )
    assert caught.value.problems[0].startswith("storage.url: ")
    assert "bogus_option" in caught.value.problems[0]


def warnings_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    return parse_config(textwrap.dedent(text), env=env or {}).warnings


def test_slack_api_url_without_a_scheme_is_an_error() -> None:
    found = problems("""
        route:
          receiver: r
        receivers:
          - name: r
            slack_configs: [{api_url: hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX}]
    """)
    assert found == [
        "receivers[0].slack_configs[0].api_url: must be a full URL starting with "
        "https:// (the incoming webhook is https://hooks.slack.com/services/...)"
    ]
    assert "XXXX" not in found[0]  # the URL is a secret


def test_wecom_webhook_url_without_a_scheme_is_an_error() -> None:
    found = problems("""
        route:
          receiver: r
        receivers:
          - name: r
          - name: cn
            wecom_configs: [{webhook_url: 'qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc'}]
    """)
    assert found == [
        "receivers[1].wecom_configs[0].webhook_url: must be a full URL, like "
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."
    ]


def test_a_whole_robot_url_in_wecom_key_is_an_error_suggesting_the_key() -> None:
    key = "693axxxx-7aoc-4bc4-97a0-0ec2sifa5aaa"
    found = problems(f"""
        route:
          receiver: r
        receivers:
          - name: r
          - name: cn
            wecom_configs:
              - key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc
              - key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}
              - key: ''
    """)
    assert found == [
        "receivers[1].wecom_configs[0].key: is a whole URL, not a robot key: set key to the value "
        "after key= (3 characters), or set webhook_url instead",
        "receivers[1].wecom_configs[1].key: is a whole URL, not a robot key: set key to the value "
        "after key= (36 characters, 693a...), or set webhook_url instead",
        "receivers[1].wecom_configs[2].key: is empty",
    ]
    assert not any(key in p for p in found)  # the key is a secret


def test_slack_channel_in_webhook_mode_is_a_warning() -> None:
    found = warnings_of("""
        route:
          receiver: r
        receivers:
          - name: r
            slack_configs:
              - {api_url: 'https://hooks.slack.com/services/T/B/x', channel: '#alerts'}
              - {token: xoxb-1, channel: '#alerts'}
    """)
    assert found == [
        "receivers[0].slack_configs[0].channel: ignored with an incoming webhook (api_url), which "
        "always posts to the channel it was created for; remove it, or use token and channel (bot)"
    ]


def test_bare_dollar_var_is_a_warning_inside_a_value_and_an_error_as_the_whole_value() -> None:
    text = """
        route:
          receiver: r
        receivers:
          - name: r
            webhook_configs:
              - url: https://hooks.example.com/alerts?token=$HOOK_TOKEN
              - url: https://hooks.example.com/$$HOOK_TOKEN/{{ $labels }}
                headers: {X-Pass: pa$sword}
    """
    assert warnings_of(text, env={"HOOK_TOKEN": "t"}) == [
        "receivers[0].webhook_configs[0].url: '$HOOK_TOKEN' is sent as written: relay expands "
        "only ${HOOK_TOKEN} (write ${HOOK_TOKEN}, or $$HOOK_TOKEN for a literal '$')"
    ]
    found = problems(BASE + "server:\n  auth:\n    bearer_token: $RELAY_TOKEN\n")
    assert found == [
        "server.auth.bearer_token: '$RELAY_TOKEN' is sent as written: relay expands only "
        "${RELAY_TOKEN} (write ${RELAY_TOKEN}, or $$RELAY_TOKEN for a literal '$')"
    ]


def test_every_kind_of_problem_is_reported_in_one_run() -> None:
    """Environment, YAML schema, channel checks and cross-references together, and the
    warnings beside them: a file is fixed in one round, not one kind at a time."""
    with pytest.raises(ConfigError) as info:
        parse_config(
            textwrap.dedent("""
            server:
              listne: 0.0.0.0:9095
              auth:
                bearer_token: ${RELAY_TOKEN}
            route:
              receiver: default
              routes:
                - receiver: ghost
                  matchers: ['team=>"db"']
            receivers:
              - name: default
                slack_configs:
                  - api_url: hooks.slack.com/services/T0/B0/x
                  - {api_url: 'https://hooks.slack.com/services/T0/B0/x', channel: '#alerts'}
              - name: default
                wecom_configs:
                  - key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc
        """),
            source="relay.yml",
            env={},
        )
    found = info.value.problems
    assert found == [
        "server.auth.bearer_token: environment variable RELAY_TOKEN is not set "
        "(set it, or write ${RELAY_TOKEN:-default})",
        "server.listne: unknown key; did you mean listen?",
        "receivers[0].slack_configs[0].api_url: must be a full URL starting with https:// "
        "(the incoming webhook is https://hooks.slack.com/services/...)",
        "receivers[1].wecom_configs[0].key: is a whole URL, not a robot key: set key to the "
        "value after key= (3 characters), or set webhook_url instead",
        "receivers[1].name: duplicate receiver name 'default' (first at receivers[0])",
        "route.routes[0].receiver: unknown receiver 'ghost' (known: default)",
        "route.routes[0].matchers[0]: unknown operator '=>' in 'team=>\"db\"' (use =, !=, =~ or !~)",
    ]
    assert getattr(info.value, "warnings", None) == [
        "receivers[0].slack_configs[1].channel: ignored with an incoming webhook (api_url), which "
        "always posts to the channel it was created for; remove it, or use token and channel (bot)"
    ]
