"""The shipped configs wire the dead-man's switch end to end: Prometheus's Watchdog rule,
Alertmanager's route that re-sends it every minute, relay's heartbeat that expects it,
and the Operator example that routes it (rather than filtering it out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from relay.config import Config, parse_config
from relay.core.durations import parse_duration
from relay.core.matchers import parse_matcher

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def relay_config() -> Config:
    """deploy/relay/relay.yml, without the token file only the container has."""
    data = load(DEPLOY / "relay" / "relay.yml")
    data["server"].pop("auth")
    return parse_config(yaml.safe_dump(data), env={})


def watchdog_labels() -> dict[str, str]:
    [rule] = [
        r
        for g in load(DEPLOY / "prometheus" / "rules" / "watchdog.yml")["groups"]
        for r in g["rules"]
        if r.get("alert") == "Watchdog"
    ]
    return {"alertname": "Watchdog", **rule["labels"]}


def test_relay_expects_the_watchdog_prometheus_fires() -> None:
    config = relay_config()
    [heartbeat] = config.heartbeats
    labels = watchdog_labels()
    assert all(parse_matcher(m).matches(labels) for m in heartbeat.matchers)
    assert config.receiver(heartbeat.receiver) is not None


def test_alertmanager_resends_the_watchdog_within_the_heartbeats_interval() -> None:
    [heartbeat] = relay_config().heartbeats
    am = load(DEPLOY / "alertmanager" / "alertmanager.yml")
    labels = watchdog_labels()
    routes = am["route"].get("routes", [])
    [route] = [r for r in routes if all(parse_matcher(m).matches(labels) for m in r["matchers"])]
    assert route["receiver"] == am["route"]["receiver"] == "relay"
    # Alertmanager re-sends on the first group_interval tick after repeat_interval: a
    # beat every repeat_interval to repeat_interval + group_interval.
    slowest = parse_duration(route["repeat_interval"]) + parse_duration(route["group_interval"])
    assert parse_duration(route["repeat_interval"]) <= heartbeat.interval
    assert slowest < heartbeat.grace / 2


def test_the_operator_example_routes_the_watchdog_to_relay() -> None:
    spec = load(DEPLOY / "kubernetes" / "operator" / "alertmanagerconfig.yaml")["spec"]
    route = spec["route"]
    for matcher in route.get("matchers", []):
        text = f'{matcher["name"]}{matcher.get("matchType", "=")}"{matcher["value"]}"'
        assert parse_matcher(text).matches(watchdog_labels()), f"the route filters the Watchdog: {text}"
    [sub] = [r for r in route["routes"] if {"name": "alertname", "value": "Watchdog"} in r["matchers"]]
    assert sub["receiver"] == "relay"
    assert parse_duration(sub["repeatInterval"]) <= 60
