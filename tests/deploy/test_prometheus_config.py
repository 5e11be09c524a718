"""Prometheus and Alertmanager configs of deploy/: promtool, amtool and the rule conventions.

The promtool/amtool tests skip when the binary is missing, except with CI=true, where
they fail: CI must not pass by skipping the only checks of these files.
Debian: ``apt-get install prometheus prometheus-alertmanager``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))

TOKEN_PATH = "/etc/alertmanager/relay_token"
SEVERITIES = {"critical", "warning", "info"}
# Alerts that fire always by design (relay's heartbeat expects them): no instance, no
# value, no quiet test; severity "none", as kube-prometheus labels its Watchdog.
ALWAYS_FIRING = {"Watchdog"}


def run(*args: str | Path, cwd: Path = ROOT) -> str:
    """Runs a command, fails the test with its output unless it exits 0, returns stdout."""
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"{' '.join(str(a) for a in args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout + result.stderr


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def all_rules() -> list[dict[str, Any]]:
    return [rule for path in RULES for group in load_yaml(path)["groups"] for rule in group["rules"]]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in all_rules() if "alert" in rule]


# --- promtool ---------------------------------------------------------------------------


def test_promtool_check_config() -> None:
    promtool = require_binary("promtool")
    out = run(promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    assert f"{len(RULES)} rule files found" in out


def test_promtool_check_rules() -> None:
    promtool = require_binary("promtool")
    assert RULES, "no rule files in deploy/prometheus/rules"
    run(promtool, "check", "rules", *RULES)


def test_promtool_test_rules() -> None:
    promtool = require_binary("promtool")
    assert RULE_TESTS, "no rule tests in deploy/prometheus/tests"
    out = run(promtool, "test", "rules", *RULE_TESTS)
    assert out.count("SUCCESS") == len(RULE_TESTS)


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    """Every PromQL query of the Grafana dashboards, checked by promtool as a recording rule."""
    promtool = require_binary("promtool")
    grafana_vars = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
    rules = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in grafana_vars.items():
                    expr = expr.replace(var, value)
                expr = re.sub(r"\$\{?\w+\}?", ".*", expr)  # $instance in a regex matcher
                rules.append({"record": f"dashboard:{path.stem.replace('-', '_')}", "expr": expr})
    assert rules
    rule_file = tmp_path / "dashboards.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    run(promtool, "check", "rules", rule_file)


# --- conventions of the rules and their tests ---------------------------------------------


def test_alert_names_are_unique() -> None:
    names = alert_names()
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.get("alert", r.get("record")))
def test_rule_has_severity_summary_and_description(rule: dict[str, Any]) -> None:
    assert "alert" in rule, "only alerting rules belong in deploy/prometheus/rules"
    if rule["alert"] in ALWAYS_FIRING:
        assert rule["expr"] == "vector(1)" and rule["labels"]["severity"] == "none"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        return
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary"), "summary annotation missing"
    description = annotations.get("description", "")
    assert "$labels.instance" in description, "description must name the instance"
    assert "$value" in description, "description must show the value"


def _alert_tests() -> dict[str, list[list[dict[str, Any]]]]:
    """alertname -> the exp_alerts lists of every alert_rule_test of it."""
    found: dict[str, list[list[dict[str, Any]]]] = {}
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                found.setdefault(check["alertname"], []).append(check.get("exp_alerts") or [])
    return found


@pytest.mark.parametrize("alertname", alert_names())
def test_every_alert_has_a_firing_and_a_quiet_unit_test(alertname: str) -> None:
    checks = _alert_tests().get(alertname, [])
    firing = [alerts for alerts in checks if alerts]
    assert firing, f"no promtool test where {alertname} fires"
    if alertname not in ALWAYS_FIRING:
        assert any(not alerts for alerts in checks), f"no promtool test where {alertname} is quiet"
    for alerts in firing:
        for alert in alerts:
            assert "severity" in alert.get("exp_labels", {}), "check exp_labels, severity included"
            assert {"summary", "description"} <= set(alert.get("exp_annotations", {}))


def test_rule_tests_cover_every_rule_file() -> None:
    covered = {
        (path.parent / rule_file).resolve()
        for path in RULE_TESTS
        for rule_file in load_yaml(path)["rule_files"]
    }
    assert covered == {path.resolve() for path in RULES}


def test_prometheus_config_wiring() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    am_targets = [
        target
        for am in config["alerting"]["alertmanagers"]
        for static in am["static_configs"]
        for target in static["targets"]
    ]
    assert am_targets == ["alertmanager:9093"]
    targets = {
        job["job_name"]: [t for s in job.get("static_configs", []) for t in s["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets["relay"] == ["relay:9095"], 'rules/relay.yml selects job="relay"'
    for target in [
        "localhost:9090",
        "alertmanager:9093",
        "node-exporter:9100",
        "api:8000",
        "postgres-exporter:9187",
        "redis-exporter:9121",
        "celery-exporter:9808",
    ]:
        assert any(target in ts for ts in targets.values()), f"{target} is not scraped"


# --- Alertmanager -------------------------------------------------------------------------


def test_alertmanager_routes_everything_to_relay() -> None:
    config = load_yaml(ALERTMANAGER / "alertmanager.yml")
    route = config["route"]
    assert route["receiver"] == "relay"
    assert set(route["group_by"]) >= {"alertname", "instance"}
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == "http://relay:9095/api/v1/alerts/webhook"
    assert webhook["send_resolved"] is True
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": TOKEN_PATH,
    }
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']
    assert set(inhibit["equal"]) == {"alertname", "instance"}


def test_amtool_check_config(tmp_path: Path) -> None:
    """amtool on a copy whose credentials_file points at the example token.

    The real path, /etc/alertmanager/relay_token, exists only inside the container.
    amtool 0.25 does not open credentials files, but later versions may, so the check
    runs on a copy with the path rewritten to a file that exists.
    """
    amtool = require_binary("amtool")
    text = (ALERTMANAGER / "alertmanager.yml").read_text(encoding="utf-8")
    assert f"credentials_file: {TOKEN_PATH}" in text
    token = tmp_path / "relay_token"
    shutil.copyfile(ALERTMANAGER / "relay_token.example", token)
    config = tmp_path / "alertmanager.yml"
    config.write_text(text.replace(TOKEN_PATH, str(token)), encoding="utf-8")
    out = run(amtool, "check-config", config)
    assert "SUCCESS" in out


def test_example_token_is_a_single_line() -> None:
    token = (ALERTMANAGER / "relay_token.example").read_text(encoding="utf-8")
    assert token.strip() and "\n" not in token.strip()
