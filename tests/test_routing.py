"""Matchers and the route tree, as Alertmanager matches them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli.commands import main
from relay.config import parse_config
from relay.core.matchers import parse_matcher
from relay.pipeline.routing import build_route_tree


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "warning"}, False),
        ("severity=critical", {"severity": "critical"}, True),
        ('severity!="critical"', {"severity": "warning"}, True),
        ('severity!="critical"', {}, True),
        ('severity=""', {}, True),  # a missing label matches the empty string
        ('team=~"db|infra"', {"team": "db"}, True),
        ('team=~"db|infra"', {"team": "dbx"}, False),  # anchored
        ('team=~"db|infra"', {"team": "xinfra"}, False),
        ('team!~"db|infra"', {"team": "web"}, True),
        ('team!~"db|infra"', {"team": "infra"}, False),
        ('instance=~".*:9100"', {"instance": "node-1:9100"}, True),
        ('msg="say \\"hi\\""', {"msg": 'say "hi"'}, True),
        ('path="a\\\\b"', {"path": "a\\b"}, True),
        ('text="line\\nbreak"', {"text": "line\nbreak"}, True),
        ('  job = "node"  ', {"job": "node"}, True),
        ('env=~"prod|"', {}, True),
        ('name="日志"', {"name": "日志"}, True),
    ],
)
def test_matchers(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is expected


@pytest.mark.parametrize(
    ("matcher", "problem"),
    [
        ('team=>"db"', "unknown operator '=>'"),
        ('team=="db"', "unknown operator '=='"),
        ("team", "expected name, operator"),
        ('1team="x"', "expected name, operator"),
        ('team=~"(db"', "invalid regex"),
        ('team="d"b"', "unescaped quote"),
        ('team="db', "unbalanced quotes"),
        ('team="a\\qb"', "invalid escape"),
    ],
)
def test_bad_matchers(matcher: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_matcher(matcher)


TREE = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  repeat_interval: 2h
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
      continue: true
      repeat_interval: 30m
    - matchers: ['team=~"db|infra"']
      receiver: infra
      group_by: [alertname, instance]
      routes:
        - matchers: ['env="staging"']
          receiver: staging
    - match: {team: web}
      receiver: web
    - matchers: ['team="web"']
      receiver: never
receivers:
  - {name: default}
  - {name: oncall}
  - {name: infra}
  - {name: staging}
  - {name: web}
  - {name: never}
"""


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"alertname": "X"}, ["default"]),
        ({"severity": "critical"}, ["oncall"]),
        ({"severity": "critical", "team": "db"}, ["oncall", "infra"]),  # continue
        ({"team": "infra"}, ["infra"]),
        ({"team": "infra", "env": "staging"}, ["staging"]),  # deepest match
        ({"severity": "critical", "team": "db", "env": "staging"}, ["oncall", "staging"]),
        ({"team": "web"}, ["web"]),  # first match without continue stops
    ],
)
def test_route_tree(labels: dict[str, str], receivers: list[str]) -> None:
    tree = build_route_tree(parse_config(TREE, env={}).route)
    assert [r.receiver for r in tree.match(labels)] == receivers


def test_children_inherit_group_by_and_timers() -> None:
    tree = build_route_tree(parse_config(TREE, env={}).route)
    oncall, infra = tree.routes[0], tree.routes[1]
    staging = infra.routes[0]
    assert oncall.group_by == ("alertname",) and oncall.group_wait == 10
    assert oncall.repeat_interval == 1800
    assert infra.group_by == ("alertname", "instance") and infra.repeat_interval == 7200
    assert staging.group_by == ("alertname", "instance") and staging.group_wait == 10
    assert tree.group_interval == 300  # Alertmanager's default when unset


def test_routes_test_cli(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(textwrap.dedent(TREE))
    result = CliRunner().invoke(
        main, ["routes", "test", "--config", str(path), "severity=critical", "team=db"]
    )
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "oncall,infra"
    bad = CliRunner().invoke(main, ["routes", "test", "--config", str(path), "novalue"])
    assert bad.exit_code != 0 and "expected name=value" in bad.output


QUIET = """
global: {timezone: Asia/Shanghai}
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "08:00"}]
        location: Asia/Shanghai
  - name: office
    time_intervals:
      - weekdays: ["monday:friday"]
        times: [{start_time: "09:00", end_time: "18:00"}]
        location: Asia/Shanghai
route:
  receiver: team
  hold_time_intervals: [night]
  routes:
    - matchers: ['severity="critical"']
    - matchers: ['team="web"']
      active_time_intervals: [office]
      mute_time_intervals: [night]
receivers: [{name: team}]
"""


def test_routes_test_shows_the_intervals_in_force_and_when_they_change(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(QUIET)

    def lines(at: str, *labels: str) -> list[str]:
        result = CliRunner().invoke(main, ["routes", "test", "--config", str(path), "--at", at, *labels])
        assert result.exit_code == 0, result.output
        # Everything on stdout: the receivers first, then the routes' details, whose
        # "first notification" and "now" lines tests/test_route_report.py checks.
        out = [line.strip() for line in result.stdout.splitlines()[1:]]
        return [line for line in out if not line.startswith(("first notification:", "now:"))]

    assert lines("2026-03-02T23:00", "severity=warning") == [
        "via route 0 -> team",
        "hold_time_intervals [night]: night -> held for a digest; ends 2026-03-03 08:00:00 +08:00 (in 9h)",
    ]
    # A sub-route names no interval: it sends (intervals are not inherited).
    assert lines("2026-03-02T23:00", "severity=critical") == ["via route 0.0 -> team"]
    assert lines("2026-03-02T10:00+08:00", "team=web") == [
        "via route 0.1 -> team",
        "active_time_intervals [office]: office -> active; ends 2026-03-02 18:00:00 +08:00 (in 8h)",
        "mute_time_intervals [night]: none in force -> nothing muted; starts 2026-03-02"
        " 22:00:00 +08:00 (in 12h)",
    ]
    assert lines("2026-03-07T10:00", "team=web")[1] == (  # a Saturday
        "active_time_intervals [office]: none in force -> inactive: nothing is sent; starts"
        " 2026-03-09 09:00:00 +08:00 (in 1d23h)"
    )
    bad = CliRunner().invoke(main, ["routes", "test", "--config", str(path), "--at", "soon", "a=b"])
    assert bad.exit_code != 0 and "not an ISO 8601 time" in bad.output


def test_check_config_names_each_routes_intervals(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(QUIET)
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "route 0: (all) -> team [pass-through, hold night]" in lines
    assert 'route 0.0: severity="critical" -> team [pass-through]' in lines
    assert 'route 0.1: team="web" -> team [pass-through, active office, mute night]' in lines
