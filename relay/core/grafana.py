"""Grafana Alerting's webhook contact point, mapped onto Alertmanager's v4 webhook.

Grafana (8 to 12; the payload is grafana/alerting's ``receivers/webhook``
``webhookMessage``) posts Alertmanager's fields plus its own: at the top ``version: "1"``,
``orgId``, ``title``, ``state`` (alerting / ok) and ``message``; on each alert
``silenceURL``, ``dashboardURL``, ``panelURL``, ``values``, ``valueString`` and, with
images, ``imageURL`` (and ``embeddedImage``, the image itself in base64).

Each alert keeps Grafana's extra keys (the built-in templates link the dashboard, the
panel and Grafana's silence page, and show the image), except ``embeddedImage``: a
screenshot of up to megabytes per alert, which relay would store with every
notification and no channel can send (``imageURL`` is the same image by address).
The group key gets a ``grafana/<orgId>:`` prefix: Grafana's and Alertmanager's group keys
look alike (``{}:{alertname="X"}``) and a pass-through group is the webhook's whole state,
so one must never overwrite the other's group.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relay.core.alerts import GRAFANA_GROUP_KEY_PREFIX, Alert, ExtraValue, Status, WebhookPayload

#: Per-alert keys dropped on arrival (see the module's docstring).
DROPPED_ALERT_KEYS = ("embeddedImage",)


class GrafanaWebhook(BaseModel):
    """Grafana Alerting's webhook body (its version 1). Unknown keys are ignored."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ExtraValue] = Field(init=False)

    version: Literal["1"]
    orgId: int = Field(default=1, ge=0, le=2**63 - 1)
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0, le=2**63 - 1)
    receiver: str = ""
    status: Status
    alerts: list[Alert]
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    title: str = ""
    state: str = ""
    message: str = ""

    def to_webhook(self) -> WebhookPayload:
        """The same alerts as an Alertmanager v4 webhook, for routing and grouping."""
        alerts = [_without_dropped(alert) for alert in self.alerts]
        group_key = self.groupKey or "{}:" + _labels_text(self.groupLabels)
        return WebhookPayload.model_construct(
            version="4",
            groupKey=f"{GRAFANA_GROUP_KEY_PREFIX}{self.orgId}:{group_key}",
            truncatedAlerts=self.truncatedAlerts,
            receiver=self.receiver,
            status=self.status,
            alerts=alerts,
            groupLabels=dict(self.groupLabels),
            commonLabels=dict(self.commonLabels),
            commonAnnotations=dict(self.commonAnnotations),
            externalURL=self.externalURL,
        )


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _without_dropped(alert: Alert) -> Alert:
    extra = alert.__pydantic_extra__
    if not extra or not any(key in extra for key in DROPPED_ALERT_KEYS):
        return alert
    copy = alert.model_copy()
    copy.__pydantic_extra__ = {k: v for k, v in extra.items() if k not in DROPPED_ALERT_KEYS}
    return copy


def grafana_webhook(body: bytes) -> WebhookPayload:
    """Parse and validate a Grafana webhook body; raises pydantic's ValidationError."""
    return GrafanaWebhook.model_validate_json(body).to_webhook()


def looks_like_grafana(data: Any) -> bool:
    """Whether a body refused as an Alertmanager webhook is Grafana's (to say where it goes)."""
    return isinstance(data, dict) and data.get("version") == "1" and "orgId" in data


def looks_like_alertmanager(data: Any) -> bool:
    return isinstance(data, dict) and data.get("version") == "4"
