"""Group state and its transitions: one (receiver, group) pair's alerts, timers and
notification log, changed only by pure functions that a store applies atomically (so a
transition may run more than once and must have no side effects)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relay.core.jobs import NewJob


@dataclass
class LogEntry:
    """Alertmanager's notification-log entry for one integration of one group."""

    firing: list[str]  # fingerprints last notified as firing
    resolved: list[str]  # fingerprints last notified as resolved
    at: float  # when that notification was enqueued (unix seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"firing": self.firing, "resolved": self.resolved, "at": self.at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogEntry:
        return cls(list(data["firing"]), list(data["resolved"]), float(data["at"]))


@dataclass
class GroupState:
    """One (receiver, group) pair: its current alerts, its timers and its notification log.

    ``alerts`` maps fingerprint -> the alert as JSON (a v4 alert dict). The group has
    up to three timers: ``flush_at`` (a relay-side group's group_wait / group_interval;
    None for groups passed through from Alertmanager, which are decided on arrival),
    ``held_until`` (a hold window's end) and its escalation's next step. The store
    indexes the earliest, ``next_flush_at`` (:meth:`rearm` sets it), and the flush
    stage looks at which of them fired.
    """

    key: str
    receiver: str
    route_id: str
    labels: dict[str, str]
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: dict[str, LogEntry] = field(default_factory=dict)  # integration id -> entry
    next_flush_at: float | None = None
    flush_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)  # external url, truncated count, ...
    # Someone acknowledged the group ({"by", "at", "firing": fingerprints}): its repeat
    # notifications stop while exactly those alerts fire (relay.pipeline.grouping.decide).
    ack: dict[str, Any] | None = None
    # hold_time_intervals: integration id -> a relay.pipeline.hold.HeldEntry as JSON, and when
    # the hold window in force ends (the group's timer fires then to release them).
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    held_until: float | None = None
    # The escalation policy's progress (a relay.core.escalations.EscalationState as JSON).
    escalation: dict[str, Any] | None = None
    # What happened to the group, oldest first (relay.pipeline.timeline), bounded.
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # The incident in course: from the group's first firing alert to the last resolved,
    # with when it was acknowledged and what escalated (relay.core.timeline.Incident
    # fields). The store keeps a copy of each, for statistics after the group is gone.
    incident: dict[str, Any] | None = None

    def rearm(self) -> None:
        """Set ``next_flush_at`` to the earliest of the group's timers."""
        due = [self.flush_at]
        if self.held:
            due.append(self.held_until)
        if self.escalation is not None and self.escalation.get("stopped") is None:
            due.append(self.escalation.get("next_at"))
        self.next_flush_at = min((at for at in due if at is not None), default=None)

    def firing_count(self) -> int:
        """Alerts still firing; a group with none (all resolved, or no alerts) can be pruned."""
        return sum(1 for alert in self.alerts.values() if alert.get("status") == "firing")

    def kept_count(self) -> int:
        """What keeps the group from being pruned: firing alerts and held notifications
        (a hold window may outlast storage.group_retention)."""
        return self.firing_count() + len(self.held)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "receiver": self.receiver,
            "route_id": self.route_id,
            "labels": self.labels,
            "alerts": self.alerts,
            "log": {k: v.to_dict() for k, v in self.log.items()},
            "next_flush_at": self.next_flush_at,
            "flush_at": self.flush_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "meta": self.meta,
            "ack": self.ack,
            "held": self.held,
            "held_until": self.held_until,
            "escalation": self.escalation,
            "timeline": self.timeline,
            "incident": self.incident,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupState:
        return cls(
            key=data["key"],
            receiver=data["receiver"],
            route_id=data["route_id"],
            labels=dict(data["labels"]),
            alerts=dict(data["alerts"]),
            log={k: LogEntry.from_dict(v) for k, v in data["log"].items()},
            next_flush_at=data["next_flush_at"],
            # Stored before escalations: a relay-side group's timer was next_flush_at.
            flush_at=data.get("flush_at", data["next_flush_at"]),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            meta=dict(data.get("meta", {})),
            ack=data.get("ack"),
            held=dict(data.get("held", {})),
            held_until=data.get("held_until"),
            escalation=data.get("escalation"),
            timeline=list(data.get("timeline", ())),
            incident=data.get("incident"),
        )


@dataclass(frozen=True)
class Suppressed:
    """A notification dedup decided not to send, and why (answered to the webhook)."""

    receiver: str
    integration: str  # "<receiver>/<type>/<index>"
    # duplicate | resolved_not_sent | inactive | muted | held; the metric's reason label
    reason: str
    # When the integration last sent for the group (None: never). For "held", the last
    # send before the hold window, not the held decision itself.
    last_sent: float | None
    until: float | None = None  # "held": when the hold window ends and its digest goes

    def to_api(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "receiver": self.receiver,
            "integration": self.integration,
            "reason": self.reason,
            "last_sent": self.last_sent,
        }
        if self.until is not None:
            answer["until"] = self.until  # only "held" has one
        return answer


@dataclass(frozen=True)
class Grouped:
    """Alerts a relay-side group (``group_by``) took in: notified at its next flush."""

    receiver: str
    group_key: str  # the key shown to users
    flush_at: float | None  # when the group is next decided

    def to_api(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "group_key": self.group_key, "flush_at": self.flush_at}


@dataclass
class TransitionResult:
    """What a transition returns: the new state (None deletes the group) and new jobs.

    ``changed=False`` says the state is exactly what is already stored (an HA pair's
    second webhook, an Alertmanager re-send): the backend may skip writing it. Jobs
    are written whatever ``changed`` says.
    """

    state: GroupState | None
    jobs: list[NewJob] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    changed: bool = True
    # Escalation steps this transition fired (relay.core.escalations.StepFired), for the
    # metrics and the log once it committed.
    escalated: list[Any] = field(default_factory=list)
    # The relay-side groups a webhook's alerts joined (answered to the webhook).
    grouped: list[Grouped] = field(default_factory=list)


# A function of the current state (None when the group does not exist yet). The state
# it receives is its own: a fresh copy loaded for this call, which it may modify and
# return. It has no other side effects, because a backend may call it more than once.
Transition = Callable[[GroupState | None], TransitionResult]


@dataclass
class GroupUpdate:
    key: str
    transition: Transition
    # The transition only reads its closure and the state it is given (no side effect
    # elsewhere), so a store may try it on a copy of the state it last committed, and
    # skip its writer when nothing changes (relay.store.sqlite.groups).
    pure: bool = False
