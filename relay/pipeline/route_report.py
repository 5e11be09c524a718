"""What a route does with an alert at one moment: how long its first notification waits,
and which time intervals hold, mute or deactivate it, and until when.

One answer for every place that tests routes: ``relay routes test``,
``POST /api/v1/routes/test`` and the console's routes page. Kept in words and in codes
(``effect``) so the console can say it in its own language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relay.core.durations import format_duration
from relay.core.text import format_datetime
from relay.pipeline.routing import Route
from relay.pipeline.timegate import Intervals, IntervalState, gate_at, interval_states

__all__ = ["ALERTMANAGER_GROUP_WAIT", "RouteReport", "report_route"]

#: Alertmanager's own default ``group_wait``: what a first alert has waited already when
#: its webhook reaches relay, unless the Alertmanager route says otherwise.
ALERTMANAGER_GROUP_WAIT = 30.0


@dataclass(frozen=True)
class RouteReport:
    route: Route
    at: float
    intervals: list[IntervalState]
    gate: str  # "send", "held", "muted" or "inactive" at ``at``
    gate_until: float | None  # when that gate changes (None: not within the horizon)
    timezone: str  # global.timezone: the times in words are in it

    @property
    def relay_wait(self) -> float:
        """The wait relay adds before a new group's first notification: its
        ``group_wait`` for relay-side groups; none for Alertmanager's groups."""
        return 0.0 if self.route.passthrough else self.route.group_wait

    def first_notification(self) -> str:
        """How long a first alert waits for its first notification, in words."""
        default = format_duration(ALERTMANAGER_GROUP_WAIT)
        if self.route.passthrough:
            return (
                f"as the webhook arrives; Alertmanager's group_wait is the only wait ({default} by default)"
            )
        total = format_duration(ALERTMANAGER_GROUP_WAIT + self.relay_wait)
        by = ", ".join(self.route.group_by) or "all labels"
        return (
            f"{format_duration(self.relay_wait)} after the webhook (relay's group_wait, by {by}) "
            f"+ Alertmanager's group_wait = {total} with its default {default}; "
            "let one side group (group_wait: 0s here, or no group_by)"
        )

    def gate_text(self) -> str:
        """What the route's time intervals do now, in words ('' when it sends)."""
        until = f" until {self.local(self.gate_until)}" if self.gate_until is not None else ""
        return {
            "send": "",
            "held": f"held{until} (hold_time_intervals), then sent in the window's digest",
            "muted": f"muted{until} (mute_time_intervals): nothing is sent",
            "inactive": f"inactive{until} (active_time_intervals): nothing is sent",
        }[self.gate]

    def local(self, at: float) -> str:
        return format_datetime(datetime.fromtimestamp(at, UTC), self.timezone, fmt="%Y-%m-%d %H:%M %Z")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the API and the console (times in unix seconds)."""
        return {
            "id": self.route.id,
            "receiver": self.route.receiver,
            "group_by": [*self.route.group_by, *(["..."] if self.route.group_by_all else [])],
            "passthrough": self.route.passthrough,
            "group_wait": self.route.group_wait,
            "relay_wait": self.relay_wait,
            "first_wait_with_alertmanager_default": ALERTMANAGER_GROUP_WAIT + self.relay_wait,
            "first_notification": self.first_notification(),
            "gate": self.gate,
            "gate_until": self.gate_until,
            "gate_text": self.gate_text(),
            "escalation": self.route.escalation,
            "intervals": [
                {
                    "kind": s.kind,
                    "names": list(s.names),
                    "in_force": list(s.in_force),
                    "effect": s.code,
                    "effect_text": s.effect,
                    "changes_at": s.changes_at,
                }
                for s in self.intervals
            ],
        }


def report_route(route: Route, intervals: Intervals, at: float, timezone: str = "UTC") -> RouteReport:
    states = interval_states(route, intervals, at)
    gate = gate_at(route, intervals, at)
    # The gate lasts until the state of the kind that set it changes.
    kind = {"held": "hold", "muted": "mute", "inactive": "active"}.get(gate.gate)
    until = next((s.changes_at for s in states if s.kind == kind), None) if kind else None
    if gate.gate == "held" and gate.hold_until is not None:
        until = gate.hold_until
    return RouteReport(route, at, states, gate.gate, until, timezone)
