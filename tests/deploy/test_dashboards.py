"""Grafana dashboards and provisioning of deploy/grafana, and the metric names they query.

Every metric a dashboard panel or an alert rule names must be one relay exports
(docs/operations.md, "Metrics") or one on the allow-list of the exporter that provides it, so
a renamed metric cannot leave an empty panel or a rule that never fires.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))

# docs/operations.md, "Metrics". The histogram is exported as its _bucket/_count/_sum series.
RELAY_COUNTERS = {
    "relay_webhooks_received_total",
    "relay_alerts_received_total",
    "relay_notifications_total",
    "relay_notifications_suppressed_total",
    "relay_notification_attempts_total",
    "relay_template_errors_total",
}
RELAY_GAUGES = {
    "relay_queue_jobs",
    "relay_config_last_reload_successful",
    "relay_heartbeat_last_seen_timestamp_seconds",
}
RELAY_HISTOGRAMS = {"relay_delivery_latency_seconds"}
RELAY_METRICS = (
    RELAY_COUNTERS
    | RELAY_GAUGES
    | {f"{h}{suffix}" for h in RELAY_HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")}
)

# The exporters' metrics the rules and dashboards rely on (see the comments at the top
# of each rule file).
EXPORTER_METRICS: dict[str, set[str]] = {
    "prometheus": {"up", "ALERTS"},
    "node_exporter": {
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_readonly",
    },
    "api": {"http_requests_total", "http_request_duration_seconds_bucket"},
    "postgres_exporter": {
        "pg_stat_database_numbackends",
        "pg_settings_max_connections",
        "pg_stat_activity_max_tx_duration",
    },
    "redis_exporter": {"redis_memory_used_bytes", "redis_memory_max_bytes"},
    "celery_exporter": {
        "celery_task_failed_total",
        "celery_task_succeeded_total",
        "celery_queue_length",
    },
}
KNOWN_METRICS = RELAY_METRICS.union(*EXPORTER_METRICS.values())

# --- a small PromQL tokenizer ---------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GRAFANA_VARS = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_NUMBERS = re.compile(
    r"(?<![\w.])(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?|\.\d+)(?![\w.])",
    re.IGNORECASE,
)
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects.

    Strings, label matchers, ranges, Grafana variables, grouping label lists, numbers and
    durations are removed first; of the identifiers left, those followed by "(" are
    functions or aggregations and the rest, other than keywords, are metric names.
    """
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GRAFANA_VARS.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or aggregation
        if name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up", {"up"}),
        ('up{job="relay"} == 0', {"up"}),
        (
            'sum by (code) (rate(relay_webhooks_received_total{instance=~"$instance"}[$__rate_interval]))',
            {"relay_webhooks_received_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, integration) "
            "(rate(relay_delivery_latency_seconds_bucket[5m])))",
            {"relay_delivery_latency_seconds_bucket"},
        ),
        (
            "sum(rate(a_sum[5m])) by (job) / on (job) group_left(instance) "
            "sum(rate(a_count[5m] offset 1h)) by (job)",
            {"a_sum", "a_count"},
        ),
        ("count(up == 0) or vector(0)", {"up"}),
        ('label_replace(up, "x", "$1", "instance", "(.*):.*")', {"up"}),
        ("1 - x / y > 0.8 and z > 1e3", {"x", "y", "z"}),
        ('ALERTS{alertstate="firing", severity=~"a|b{1}"}', {"ALERTS"}),
        (
            "node_cpu_seconds_total unless ignoring(mode) foo:bar_rate5m",
            {"node_cpu_seconds_total", "foo:bar_rate5m"},
        ),
    ],
)
def test_metric_names_tokenizer(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


# --- dashboards -----------------------------------------------------------------------------


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """All panels, including those nested in collapsed rows."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target."""
    return [
        (panel["title"], target["expr"]) for panel in panels(dashboard) for target in panel.get("targets", [])
    ]


def test_both_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARDS} >= {"relay.json", "stack-overview.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_valid_grafana_json(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard["uid"] and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard.get("id") is None, "provisioned dashboards carry no database id"
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid), panel["title"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        assert panel["targets"], f"{panel['title']}: no queries"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", panel["datasource"])["uid"] == "prometheus"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_do_not_overlap(path: Path) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in load_dashboard(path)["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_uids_are_unique() -> None:
    uids = [load_dashboard(path)["uid"] for path in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_use_known_metrics(path: Path) -> None:
    dashboard = load_dashboard(path)
    unknown = {
        (title, name) for title, expr in queries(dashboard) for name in metric_names(expr) - KNOWN_METRICS
    }
    assert not unknown, f"metrics neither relay's nor on an exporter allow-list: {unknown}"
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        match = re.fullmatch(r"\s*label_values\(\s*([\w:]+)\s*,\s*\w+\s*\)\s*", query)
        if variable.get("type") == "query":
            assert match, f"variable {variable['name']}: unexpected query {query!r}"
            assert match.group(1) in KNOWN_METRICS


def test_relay_dashboard_shows_every_relay_metric() -> None:
    used = set().union(*(metric_names(e) for _, e in queries(load_dashboard(
        GRAFANA / "dashboards" / "relay.json"))))  # fmt: skip
    expected = RELAY_COUNTERS | RELAY_GAUGES | {f"{h}_bucket" for h in RELAY_HISTOGRAMS}
    assert expected <= used, f"not on the relay dashboard: {sorted(expected - used)}"


def test_relay_dashboard_queries_only_relay_metrics() -> None:
    dashboard = load_dashboard(GRAFANA / "dashboards" / "relay.json")
    for title, expr in queries(dashboard):
        assert metric_names(expr) <= RELAY_METRICS | {"up"}, title


# --- the alert rules draw on the same allow-lists --------------------------------------------


def rule_exprs() -> list[tuple[str, str]]:
    return [
        (rule["alert"], rule["expr"])
        for path in RULES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]


@pytest.mark.parametrize(("alert", "expr"), rule_exprs(), ids=lambda v: v.split("\n")[0][:40])
def test_rules_use_known_metrics(alert: str, expr: str) -> None:
    names = metric_names(expr)
    if expr == "vector(1)":
        return  # the always-firing Watchdog (deploy/prometheus/rules/watchdog.yml)
    assert names, f"{alert}: no metric found in {expr!r}"
    assert names <= KNOWN_METRICS, f"{alert}: unknown metrics {names - KNOWN_METRICS}"


def test_relay_rules_use_relay_metrics() -> None:
    relay_rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/relay.yml").read_text())
    for group in relay_rules["groups"]:
        for rule in group["rules"]:
            assert metric_names(rule["expr"]) <= RELAY_METRICS | {"up"}, rule["alert"]


def test_every_allow_listed_metric_is_used() -> None:
    """The allow-lists stay exactly as long as the rules and dashboards need."""
    used = set().union(*(metric_names(expr) for _, expr in rule_exprs()))
    for path in DASHBOARDS:
        used |= set().union(*(metric_names(expr) for _, expr in queries(load_dashboard(path))))
    for exporter, names in EXPORTER_METRICS.items():
        assert names <= used, f"{exporter}: unused allow-list entries {names - used}"


# --- provisioning ---------------------------------------------------------------------------


def test_datasource_provisioning_matches_dashboards() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (datasource,) = config["datasources"]
    assert datasource["uid"] == "prometheus"
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


def test_dashboard_provider_points_at_the_mounted_directory() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
