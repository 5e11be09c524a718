"""Prometheus metrics, names as listed in docs/operations.md ("Metrics"). One registry per app,
handed in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.webhooks_received = Counter(
            "relay_webhooks_received_total",
            "Webhooks received, by HTTP status answered.",
            ["code"],
            registry=r,
        )
        self.alerts_received = Counter(
            "relay_alerts_received_total",
            "Alerts received in accepted webhooks.",
            ["status"],
            registry=r,
        )
        self.notifications = Counter(
            "relay_notifications_total",
            "Notifications finished per integration: delivered, failed (an attempt to retry), dead.",
            ["receiver", "integration", "outcome"],
            registry=r,
        )
        self.suppressed = Counter(
            "relay_notifications_suppressed_total",
            "Notifications not sent: duplicate (dedup), resolved_not_sent (send_resolved: false),"
            " acknowledged (a repeat of a group acknowledged from Slack).",
            ["receiver", "reason"],
            registry=r,
        )
        self.attempts = Counter(
            "relay_notification_attempts_total",
            "Delivery attempts, by integration type and reason.",
            ["integration", "reason"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "relay_delivery_latency_seconds",
            "From accepting the alert to delivering it.",
            ["integration"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
        )
        self.heartbeat_last_seen = Gauge(
            "relay_heartbeat_last_seen_timestamp_seconds",
            "When each heartbeat's last beat arrived (unix seconds); absent until the first.",
            ["name"],
            registry=r,
        )
        self.escalation_steps = Counter(
            "relay_escalation_steps_total",
            "Escalation steps fired, by policy and step (1-based; every round counts).",
            ["policy", "step"],
            registry=r,
        )
        self.time_to_acknowledge = Histogram(
            "relay_time_to_acknowledge_seconds",
            "From a group's first firing to its acknowledgement, by receiver.",
            ["receiver"],
            registry=r,
            buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400),
        )
        self.queue_jobs = Gauge(
            "relay_queue_jobs",
            "Jobs in the store, by state.",
            ["state"],
            registry=r,
        )
        self.template_errors = Counter(
            "relay_template_errors_total",
            "Template errors at delivery (fell back to built-in).",
            ["template"],
            registry=r,
        )
        self.storm_merged = Counter(
            "relay_storm_merged_notifications_total",
            "Notifications merged into storm digests instead of sent one by one.",
            ["integration"],
            registry=r,
        )
        self.config_last_reload_successful = Gauge(
            "relay_config_last_reload_successful",
            "1 if the last config (re)load succeeded.",
            registry=r,
        )
        self.config_last_reload_success_timestamp = Gauge(
            "relay_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully.",
            registry=r,
        )
