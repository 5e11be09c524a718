"""A built-in sample notification, for `relay render` without --payload and template checks.

One group (team="infra") with alerts of each severity, one of them resolved, and text in
English and Chinese, so that a preview exercises every branch of a template.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from relay.core.alerts import Notification, WebhookPayload, common_items, fingerprint_of, message_order

if TYPE_CHECKING:
    from relay.core.digests import Digest, DigestKind

_PROMETHEUS = "http://prometheus:9090/graph?g0.expr={expr}&g0.tab=1"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alert(
    status: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    starts: datetime,
    ends: datetime | None,
    expr: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(starts),
        "endsAt": _iso(ends) if ends else "0001-01-01T00:00:00Z",
        "generatorURL": _PROMETHEUS.format(expr=expr),
        "fingerprint": fingerprint_of(labels),
    }


def sample_payload(now: datetime | None = None) -> dict[str, Any]:
    """An Alertmanager v4 webhook body: 3 firing alerts and 1 resolved, times relative to now."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    alerts = [
        _alert(
            "firing",
            {
                "alertname": "DiskWillFillIn4Hours",
                "instance": "db-1:9100",
                "job": "node",
                "mountpoint": "/data",
                "severity": "critical",
                "team": "infra",
            },
            {
                "summary": "Disk /data on db-1 will fill up within 4 hours",
                "description": "磁盘 /data 剩余 6.2%，按当前写入速度预计 4 小时内写满。",
                "runbook_url": "https://runbooks.example.com/disk-full",
            },
            now - timedelta(minutes=5, seconds=12),
            None,
            "predict_linear%28node_filesystem_avail_bytes%5B6h%5D%2C+4%2A3600%29+%3C+0",
        ),
        _alert(
            "firing",
            {
                "alertname": "HighCPUUsage",
                "instance": "node-2:9100",
                "job": "node",
                "severity": "warning",
                "team": "infra",
            },
            {"summary": "node-2 CPU 使用率超过 80%", "description": "CPU usage is 88.0% for 10m"},
            now - timedelta(hours=1, minutes=2, seconds=5),
            None,
            "100+-+avg+by+%28instance%29+%28rate%28node_cpu_seconds_total%5B5m%5D%29%29+%3E+80",
        ),
        _alert(
            "firing",
            {
                "alertname": "CertificateExpiringSoon",
                "instance": "https://api.example.com",
                "job": "blackbox",
                "severity": "info",
                "team": "infra",
            },
            {"summary": "TLS certificate of api.example.com expires in 13 days"},
            now - timedelta(days=2, hours=3),
            None,
            "probe_ssl_earliest_cert_expiry+-+time%28%29+%3C+14%2A86400",
        ),
        _alert(
            "resolved",
            {
                "alertname": "HighCPUUsage",
                "instance": "node-3:9100",
                "job": "node",
                "severity": "warning",
                "team": "infra",
            },
            {"summary": "node-3 CPU 使用率超过 80%", "description": "CPU usage back to 41%"},
            now - timedelta(minutes=42),
            now - timedelta(minutes=30, seconds=1),
            "100+-+avg+by+%28instance%29+%28rate%28node_cpu_seconds_total%5B5m%5D%29%29+%3E+80",
        ),
    ]
    return {
        "version": "4",
        "groupKey": '{}:{team="infra"}',
        "truncatedAlerts": 0,
        "receiver": "default",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"team": "infra"},
        "commonLabels": common_items([a["labels"] for a in alerts]),
        "commonAnnotations": common_items([a["annotations"] for a in alerts]),
        "externalURL": "http://alertmanager:9093",
    }


def notification_from_payload(
    payload: WebhookPayload, receiver: str, reason: str = "new_alerts"
) -> Notification:
    """The notification relay would send for this webhook as a whole (no regrouping)."""
    ordered = sorted(payload.alerts, key=message_order)
    return Notification(
        receiver=receiver,
        group_key=payload.groupKey,
        status=payload.status,
        alerts=ordered,
        group_labels=payload.groupLabels,
        common_labels=payload.commonLabels,
        common_annotations=payload.commonAnnotations,
        external_url=payload.externalURL,
        truncated_alerts=payload.truncatedAlerts,
        reason=reason,
    )


def sample_notification(receiver: str = "default", now: datetime | None = None) -> Notification:
    """The sample payload as the notification a receiver named ``receiver`` would get."""
    payload = WebhookPayload.model_validate(sample_payload(now))
    return notification_from_payload(payload, receiver)


def sample_digest(
    notification: Notification, kind: DigestKind, groups: int, integration: str, now: float
) -> Digest:
    """A digest of ``groups`` groups like ``notification``, as a storm or a hold window
    ending at ``now`` would make: each copy is its own group (an ``instance`` label
    ``<value>-<i>`` in its group labels and alerts), every third one resolved, so a
    preview shows both kinds of line and the split between parts."""
    from relay.core.digests import Digest

    items: list[tuple[str, str, Notification]] = []
    for index in range(1, groups + 1):
        instance = f"{notification.group_labels.get('instance', 'node')}-{index}"
        resolved = groups > 1 and index % 3 == 0
        alerts = [
            alert.model_copy(
                update={
                    "labels": {**alert.labels, "instance": instance},
                    "status": "resolved" if resolved else alert.status,
                    "fingerprint": fingerprint_of({**alert.labels, "instance": instance}),
                }
            )
            for alert in notification.alerts
        ]
        copy = notification.model_copy(
            update={
                "group_key": f'{notification.group_key}:{{instance="{instance}"}}',
                "group_labels": {**notification.group_labels, "instance": instance},
                "alerts": alerts,
                "status": "resolved" if resolved else notification.status,
            }
        )
        items.append((f"preview-{index}", copy.group_key, copy))
    window = (now - 8 * 3600, now) if kind == "hold" else None
    return Digest.of_notifications(kind, notification.receiver, integration, items, now, window)
