"""The ``escalation_policies:`` section: whom to page, and when, until someone
acknowledges.

```yaml
escalation_policies:
  - name: sre
    steps:
      - targets: [schedule:sre]              # with the first notification
      - after: 5m
        targets: [schedule:sre]              # a reminder to the same person
      - after: 15m
        targets: [schedule:sre-secondary, person:manager]
        receiver: managers                   # this step through another receiver
    repeat: 1                                # the steps again, this many times
route:
  routes:
    - matchers: ['severity="critical"']
      receiver: sre-wecom
      escalation: sre
```

References (people, schedules, receivers, a route's policy) and the order of ``after``
are checked by :func:`escalation_problems`, which names the place.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator

from relay.core.durations import Duration, format_duration, parse_duration, within
from relay.core.escalations import Policy, Step
from relay.core.secrets import StrictModel

_TARGET = re.compile(r"^(schedule|person):(.+)$")
#: The most steps a policy has, and rounds it repeats: a policy is a few steps, not a loop.
MAX_STEPS = 20
MAX_REPEAT = 10


class StepConfig(StrictModel):
    after: Annotated[Duration, within(0, 7 * 86400)] = 0.0
    targets: list[str] = Field(min_length=1)
    receiver: str | None = None

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for target in value:
            if not _TARGET.match(target):
                raise ValueError(f"{target!r}: a target is schedule:<name> (who is on call) or person:<name>")
        return value


class EscalationPolicyConfig(StrictModel):
    name: str = Field(min_length=1)
    steps: list[StepConfig] = Field(min_length=1, max_length=MAX_STEPS)
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT)
    # From a round's last step to the next round's first; default: as long as a round's
    # steps take (the last step's ``after``), at least a minute.
    repeat_after: Annotated[Duration, within(60, 7 * 86400)] | None = None

    def model(self) -> Policy:
        steps = tuple(Step(s.after, tuple(s.targets), s.receiver) for s in self.steps)
        gap = self.repeat_after if self.repeat_after is not None else max(steps[-1].after, 60.0)
        return Policy(self.name, steps, self.repeat, gap)


Finding = tuple[tuple[str | int, ...], str]


def _seconds(value: Any) -> float | None:
    try:
        return parse_duration(value) if value is not None else 0.0
    except ValueError:
        return None


def escalation_problems(
    raw: dict[str, Any],
    people: set[str],
    schedules: set[str],
    receivers: set[str],
    silent: set[str] | frozenset[str] = frozenset(),
) -> list[Finding]:
    """Each step's targets and receiver exist (and the receiver sends somewhere), and
    ``after`` grows from step to step."""
    problems: list[Finding] = []
    policies = raw.get("escalation_policies")
    for p, policy in enumerate(policies if isinstance(policies, list) else []):
        if not isinstance(policy, dict):
            continue
        steps = policy.get("steps")
        previous: tuple[int, float] | None = None
        for s, step in enumerate(steps if isinstance(steps, list) else []):
            if not isinstance(step, dict):
                continue
            where = ("escalation_policies", p, "steps", s)
            targets = step.get("targets")
            for t, target in enumerate(targets if isinstance(targets, list) else []):
                match = _TARGET.match(target) if isinstance(target, str) else None
                if match is None:
                    continue  # the schema says what is wrong with it
                kind, name = match.groups()
                known = schedules if kind == "schedule" else people
                if name not in known:
                    section = "schedules" if kind == "schedule" else "people"
                    problems.append(
                        (
                            (*where, "targets", t),
                            f"unknown {kind} {name!r} (known: {', '.join(sorted(known)) or 'none'};"
                            f" add it under {section}:)",
                        )
                    )
            receiver = step.get("receiver")
            if isinstance(receiver, str) and receiver not in receivers:
                problems.append(
                    (
                        (*where, "receiver"),
                        f"unknown receiver {receiver!r} (known: {', '.join(sorted(receivers)) or 'none'})",
                    )
                )
            elif isinstance(receiver, str) and receiver in silent:
                problems.append(
                    (
                        (*where, "receiver"),
                        f"receiver {receiver!r} has no integrations: this step would page no one",
                    )
                )
            after = _seconds(step.get("after"))
            if after is None:
                continue
            if previous is not None and after <= previous[1]:
                problems.append(
                    (
                        (*where, "after"),
                        f"{format_duration(after)} is not later than steps[{previous[0]}].after"
                        f" ({format_duration(previous[1])}): after counts from the escalation's"
                        " start, so it grows from step to step",
                    )
                )
            previous = (s, after)
    return problems
