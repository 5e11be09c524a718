"""The Alertmanager webhook payload (version 4) and the notification relay sends from it."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import from_json

from relay.core.silence_links import grafana_silence_url, silence_url

Status = Literal["firing", "resolved"]
#: The group key of every group whose alerts came from Grafana starts so (relay.core.grafana).
GRAFANA_GROUP_KEY_PREFIX = "grafana/"

# Alertmanager marks "no end yet" with Go's zero time; it must never reach a message.
_GO_ZERO_YEAR = 1
# The latest time every IANA zone (up to UTC+14) can still show: later ones overflow
# datetime when a template converts them to global.timezone.
_LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
# What the store's JSON encoder (orjson) can write: 64-bit integers, signed or not.
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1
_MAX_DEPTH = 32  # of an extra field's nesting; Alertmanager's own fields are flat


def _storable(value: Any, where: str = "", depth: int = 0) -> Any:
    """``value`` (an extra field, parsed from JSON) if every part of it can be stored.

    Raises ValueError naming the place inside the field (``.a[1]``): integers beyond
    64 bits, NaN and Infinity (not JSON, though the parser accepts them), and nesting
    past _MAX_DEPTH.
    """
    if depth > _MAX_DEPTH:
        raise ValueError(f"nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _UINT_MAX:
            raise ValueError(f"integer{' at ' + where if where else ''} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} {'at ' + where + ' ' if where else ''}is not a JSON number")
        return value
    if isinstance(value, list):
        return [_storable(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _storable(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    raise ValueError(f"unexpected value of type {type(value).__name__}")


# Unknown keys are kept in the stored alert; each must be something the store can write.
ExtraValue = Annotated[Any, AfterValidator(_storable)]


def _utc(value: datetime) -> datetime:
    """``value`` in UTC (naive means UTC), if every time zone can show it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date is out of range once converted to UTC") from None
    if value > _LATEST:
        raise ValueError("date is too far in the future (latest: 9999-12-30T23:59:59Z)")
    return value


def fingerprint_of(labels: dict[str, str]) -> str:
    """A stable 16-hex-digit fingerprint for alerts that arrive without one."""
    digest = hashlib.sha256()
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xff")
    return digest.hexdigest()[:16]


class Alert(BaseModel):
    """One alert as Alertmanager sends it. Unknown keys are kept and ignored."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ExtraValue] = Field(init=False)

    status: Status
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""

    @field_validator("startsAt", mode="after")
    @classmethod
    def _start_in_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("endsAt", mode="after")
    @classmethod
    def _zero_is_none(cls, value: datetime | None) -> datetime | None:
        if value is None or value.year <= _GO_ZERO_YEAR:
            return None
        return _utc(value)

    @model_validator(mode="after")
    def _ensure_fingerprint(self) -> Alert:
        if not self.fingerprint:
            self.fingerprint = fingerprint_of(self.labels)
        return self

    def to_v4(self) -> dict[str, Any]:
        """The alert as Alertmanager would have sent it (zero time for an open end)."""
        data = self.to_json()
        if data["endsAt"] is None:
            data["endsAt"] = "0001-01-01T00:00:00Z"
        return data

    def to_json(self) -> dict[str, Any]:
        """``model_dump(mode="json")``, built directly for an alert without extra keys:
        every alert of every webhook and notification goes through here, at a tenth of
        the cost (tests/model/test_alert_v4.py compares the two)."""
        if self.__pydantic_extra__:
            return self.model_dump(mode="json")
        return {
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": _json_time(self.startsAt),
            "endsAt": _json_time(self.endsAt) if self.endsAt else None,
            "generatorURL": self.generatorURL,
            "fingerprint": self.fingerprint,
        }


#: How urgent a ``severity`` label is, for ordering (lower first). The names Prometheus
#: rule sets use; any other value, or none, ranks with "info".
SEVERITY_RANK: dict[str, int] = {
    **dict.fromkeys(("emergency", "fatal", "critical", "page", "p0", "p1", "sev1", "disaster"), 0),
    **dict.fromkeys(("error", "high", "major", "p2", "sev2"), 1),
    **dict.fromkeys(("warning", "warn", "medium", "minor", "average", "p3", "sev3"), 2),
    **dict.fromkeys(("info", "information", "low", "notice", "p4", "sev4"), 3),
    **dict.fromkeys(("none", "debug", "ok", "p5", "sev5"), 4),
}
_UNKNOWN_RANK = 3


def severity_rank(alert: Alert) -> int:
    return severity_of_labels(alert.labels)


def severity_of_labels(labels: Mapping[str, Any]) -> int:
    """The rank of a ``severity`` label (0 most severe); unknown or missing ranks with info."""
    return SEVERITY_RANK.get(str(labels.get("severity", "")).strip().lower(), _UNKNOWN_RANK)


def message_order(alert: Alert) -> tuple[bool, int, datetime, str]:
    """The order of alerts in every message and digest: firing before resolved, the most
    severe first (critical, error, warning, info), then the longest firing, so the alert
    to act on is the first line a phone shows."""
    return (alert.status != "firing", severity_rank(alert), alert.startsAt, alert.fingerprint)


def _json_time(value: datetime) -> str:
    """A time as pydantic writes it in JSON: ISO 8601, 'Z' for UTC."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class WebhookPayload(BaseModel):
    """Alertmanager's webhook body, version 4. Newer keys (routeLabels, ...) are accepted."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ExtraValue] = Field(init=False)

    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = Field(default=0, ge=0, le=2**63 - 1)
    receiver: str = ""
    status: Status
    alerts: list[Alert]
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""


@dataclass(frozen=True)
class _ByStatus:
    """A notification's alerts by status, as last computed (see Notification.firing)."""

    alerts: list[Alert]
    count: int
    firing: list[Alert]
    resolved: list[Alert]
    severities: list[str]


class EscalatedTo(BaseModel):
    """One target of an escalation step and the people it named when the step fired."""

    target: str  # "schedule:<name>" or "person:<name>"
    people: list[str] = Field(default_factory=list)


class Escalation(BaseModel):
    """The escalation step a notification is (or rides with): which, and whom it pages."""

    policy: str
    step: int  # 1-based, within the round
    steps: int
    round: int = 1  # 1-based
    rounds: int = 1
    targets: list[EscalatedTo] = Field(default_factory=list)
    names: dict[str, str] = Field(default_factory=dict)  # person -> how messages name them

    @property
    def people(self) -> list[str]:
        """Everyone the step pages, each once, in the order of its targets."""
        return list(dict.fromkeys(p for t in self.targets for p in t.people))

    @property
    def nobody(self) -> list[str]:
        """Targets that named nobody when the step fired (a schedule with a gap)."""
        return [t.target for t in self.targets if not t.people]

    def shown(self, person: str) -> str:
        return self.names.get(person) or person


class Notification(BaseModel):
    """What one job delivers: one group's alerts for one receiver, at one moment.

    It is stored with the job, so rendering at delivery time needs nothing else.
    """

    receiver: str
    group_key: str
    status: Status
    alerts: list[Alert]
    group_labels: dict[str, str] = Field(default_factory=dict)
    common_labels: dict[str, str] = Field(default_factory=dict)
    common_annotations: dict[str, str] = Field(default_factory=dict)
    external_url: str = ""
    truncated_alerts: int = 0
    reason: str = "new_alerts"
    # An escalation step: whom it pages (channels mention them natively).
    escalation: Escalation | None = None

    # (alerts, their count, firing, resolved) as last split: every part of a split
    # message renders its header from the whole group, and a group of 10,000 alerts
    # split into parts must not walk all of them again for each part's header.
    _by_status: _ByStatus | None = PrivateAttr(default=None)
    # The job this notification is delivered as (set by Message): what action links name.
    _job_id: str = PrivateAttr(default="")

    @property
    def job_id(self) -> str:
        """The job being delivered ('' for a preview): action links are bound to it."""
        return self._job_id

    def for_job(self, job_id: str) -> None:
        self._job_id = job_id

    def _split_by_status(self) -> _ByStatus:
        cached = self._by_status
        if cached is None or cached.alerts is not self.alerts or cached.count != len(self.alerts):
            firing = [a for a in self.alerts if a.status == "firing"]
            resolved = [a for a in self.alerts if a.status == "resolved"]
            severities = list(dict.fromkeys(a.labels.get("severity", "") for a in firing))
            cached = self._by_status = _ByStatus(self.alerts, len(self.alerts), firing, resolved, severities)
        return cached

    @property
    def firing(self) -> list[Alert]:
        """The firing alerts (one list, kept until ``alerts`` changes: read, never modify)."""
        return self._split_by_status().firing

    @property
    def resolved(self) -> list[Alert]:
        """The resolved alerts (kept like ``firing``)."""
        return self._split_by_status().resolved

    @property
    def severities(self) -> list[str]:
        """The ``severity`` labels of the firing alerts, each once, in order of first
        appearance ('' for an alert without one): what a header's colour and icon use."""
        return self._split_by_status().severities

    @property
    def from_grafana(self) -> bool:
        """Whether the group's alerts came from Grafana Alerting (relay.core.grafana)."""
        return self.group_key.startswith(GRAFANA_GROUP_KEY_PREFIX)

    @property
    def silence_url(self) -> str:
        """The new-silence form of the Alertmanager (or Grafana) the group came from,
        for this group ('' without an externalURL)."""
        make = grafana_silence_url if self.from_grafana else silence_url
        return make(group_silence_labels(self), self.external_url)

    def to_v4(self) -> dict[str, Any]:
        """This notification as an Alertmanager v4 webhook body."""
        return {
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated_alerts,
            "receiver": self.receiver,
            "status": self.status,
            "alerts": [a.to_v4() for a in self.alerts],
            "groupLabels": self.group_labels,
            "commonLabels": self.common_labels,
            "commonAnnotations": self.common_annotations,
            "externalURL": self.external_url,
        }


def group_silence_labels(notification: Notification) -> dict[str, str]:
    """The labels that select the notification's group: its group labels, or, for a
    group without any (``group_by: []``), the labels all its alerts share."""
    return dict(notification.group_labels or notification.common_labels)


def common_items(maps: list[dict[str, str]]) -> dict[str, str]:
    """The key/value pairs shared by every map (Alertmanager's commonLabels rule)."""
    if not maps:
        return {}
    common = dict(maps[0])
    for other in maps[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return common


#: Alerts validated at a time by the chunked readers below: each chunk is one call into
#: pydantic's compiled validator, which holds the GIL throughout (~5 ms for 500 alerts),
#: so a thread reading 10,000 alerts lets the event loop run between chunks.
VALIDATE_CHUNK = 500

_ALERT_LIST: TypeAdapter[list[Alert]] = TypeAdapter(list[Alert])


def _alerts_in_chunks(raw: Any) -> list[Alert]:
    if not isinstance(raw, list):
        return _ALERT_LIST.validate_python(raw)  # raises what a whole validation would
    alerts: list[Alert] = []
    for start in range(0, len(raw), VALIDATE_CHUNK):
        alerts += _ALERT_LIST.validate_python(raw[start : start + VALIDATE_CHUNK])
    return alerts


def notification_in_chunks(payload: dict[str, Any]) -> Notification:
    """``Notification.model_validate(payload)``, its alerts a chunk at a time (for a
    worker thread: see VALIDATE_CHUNK). Same result; a payload that does not validate
    raises the whole validation's error."""
    try:
        head = Notification.model_validate({**payload, "alerts": []})
        head.alerts = _alerts_in_chunks(payload.get("alerts"))
    except ValidationError:
        return Notification.model_validate(payload)
    return head


def webhook_in_chunks(body: bytes) -> WebhookPayload:
    """``WebhookPayload.model_validate_json(body)``, its alerts a chunk at a time (for a
    worker thread: see VALIDATE_CHUNK). Same result; a body that is not JSON or not a
    webhook raises exactly the whole validation's error, so the client's answer does not
    depend on the body's size."""
    try:
        data = from_json(body)  # the parser model_validate_json uses: the same numbers, NaN, escapes
    except ValueError:
        return WebhookPayload.model_validate_json(body)
    if not isinstance(data, dict) or "alerts" not in data:
        return WebhookPayload.model_validate_json(body)
    try:
        head = WebhookPayload.model_validate({**data, "alerts": []})
        head.alerts = _alerts_in_chunks(data["alerts"])
    except ValidationError:
        return WebhookPayload.model_validate_json(body)
    return head


def notification_payload(notification: Notification) -> dict[str, Any]:
    """``notification.model_dump(mode="json")`` (what a job stores), its alerts one at a
    time: one pydantic call for 10,000 alerts would hold the GIL for ~0.1 s, and the
    event loop with it (see VALIDATE_CHUNK)."""
    payload = notification.model_dump(mode="json", exclude={"alerts"})
    # One alert at a time (Alert.to_json): the interpreter can switch threads between them.
    payload["alerts"] = [alert.to_json() for alert in notification.alerts]
    return payload
