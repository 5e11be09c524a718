"""Escalation policies as pure data: the steps of a policy laid out in time, and what a
group's escalation has done so far.

A policy's steps fire at ``after`` seconds from the escalation's start; with ``repeat``
the whole list runs again, each round starting ``repeat_after`` after the previous
round's last step. Step ``k`` overall (0-based, across rounds) is round ``k // len(steps)``
and step ``k % len(steps)`` of it, so one integer says how far an escalation got.

A group's escalation is kept in its state as JSON (:class:`EscalationState`), next to
its alerts, and moves only inside store transitions (relay.pipeline.escalation): a step
fires once across replicas and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Why an escalation stopped.
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
EXHAUSTED = "exhausted"  # every step of every round fired
REMOVED = "removed"  # a reload took the policy off the route


@dataclass(frozen=True)
class Step:
    after: float  # seconds from the round's start
    targets: tuple[str, ...]  # "schedule:<name>" or "person:<name>"
    receiver: str | None = None  # None: the route's


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0  # extra rounds
    repeat_after: float = 300.0  # from a round's last step to the next round's first

    @property
    def total(self) -> int:
        """Steps across every round."""
        return len(self.steps) * (self.repeat + 1)

    @property
    def round_length(self) -> float:
        return self.steps[-1].after + self.repeat_after

    def step(self, index: int) -> tuple[int, int, Step]:
        """(round, step number in the round, the step) of overall step ``index`` (0-based)."""
        round_, number = divmod(index, len(self.steps))
        return round_, number, self.steps[number]

    def offset(self, index: int) -> float:
        """Seconds from the escalation's start to overall step ``index``."""
        round_, _, step = self.step(index)
        return round_ * self.round_length + step.after


@dataclass(frozen=True)
class StepFired:
    """A step that fired (for the metrics and the log, once the transition committed)."""

    policy: str
    step: int  # 1-based in its round
    round: int
    people: tuple[str, ...]
    nobody: tuple[str, ...]
    group_key: str


@dataclass
class EscalationState:
    """A group's escalation: which policy, when it started, how many steps fired, when
    the next is due (None once stopped) and why it stopped."""

    policy: str
    started_at: float
    fired: int = 0
    next_at: float | None = None
    stopped: str | None = None
    stopped_at: float | None = None

    @property
    def running(self) -> bool:
        return self.stopped is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "started_at": self.started_at,
            "fired": self.fired,
            "next_at": self.next_at,
            "stopped": self.stopped,
            "stopped_at": self.stopped_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EscalationState:
        return cls(
            policy=str(data["policy"]),
            started_at=float(data["started_at"]),
            fired=int(data.get("fired", 0)),
            next_at=data.get("next_at"),
            stopped=data.get("stopped"),
            stopped_at=data.get("stopped_at"),
        )
