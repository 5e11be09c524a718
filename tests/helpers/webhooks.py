"""Alertmanager v4 webhooks for tests: the captured samples and small builders."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from relay.core.alerts import fingerprint_of

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures"


def sample(name: str) -> dict[str, Any]:
    """A webhook captured from Alertmanager 0.25 (tests/fixtures/<name>.json)."""
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def alert(
    name: str = "HighCPUUsage", instance: str = "node-1:9100", status: str = "firing", **labels: str
) -> dict[str, Any]:
    all_labels = {"alertname": name, "instance": instance, "severity": "warning", **labels}
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": "2026-11-22T06:25:51.820407Z",
        "endsAt": "2026-11-22T06:37:50Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint_of(all_labels),
    }


def webhook(*alerts: dict[str, Any], group_key: str = '{}:{alertname="HighCPUUsage"}') -> dict[str, Any]:
    items = [copy.deepcopy(a) for a in alerts]
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "receiver": "relay",
        "status": "firing" if any(a["status"] == "firing" for a in items) else "resolved",
        "alerts": items,
        "groupLabels": {"alertname": items[0]["labels"]["alertname"]} if items else {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }
