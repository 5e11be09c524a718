"""A synthetic webhook, as Alertmanager would send it for one test alert."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from relay.core.alerts import fingerprint_of


def new_test_id() -> str:
    """A label value unique to one test alert, so dedup never takes it for the last one."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def synthetic_webhook(severity: str, resolved: bool, labels: dict[str, str]) -> dict[str, Any]:
    """A v4 webhook as Alertmanager would send it for one test alert."""
    alert_labels = {"alertname": "RelayTestAlert", "severity": severity, **labels}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alert = {
        "status": "resolved" if resolved else "firing",
        "labels": alert_labels,
        "annotations": {
            "summary": "Test alert sent by relay test-alert",
            "description": "If you can read this, Alertmanager → relay → your channel works.",
        },
        "startsAt": now,
        "endsAt": now if resolved else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint_of(alert_labels),
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="RelayTestAlert"}',
        "truncatedAlerts": 0,
        "receiver": "relay",
        "status": alert["status"],
        "alerts": [alert],
        "groupLabels": {"alertname": "RelayTestAlert"},
        "commonLabels": alert_labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "",
    }
