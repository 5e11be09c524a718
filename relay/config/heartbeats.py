"""The ``heartbeats:`` section: alerts that must keep arriving (a dead-man's switch).

```yaml
heartbeats:
  - name: prometheus-watchdog
    matchers: ['alertname="Watchdog"']   # which incoming alerts count as a beat
    interval: 1m                         # how often a beat is expected
    grace: 5m                            # missing this long: the pipeline is down
    receiver: oncall                     # who hears about it
    escalation: sre                      # optional: escalate until acknowledged
```

A firing alert that matches is a beat. When none has arrived for ``grace``, relay raises
its own alert ``HeartbeatMissing{heartbeat="<name>"}`` through ``receiver``
(relay.pipeline.heartbeats). References (receiver, escalation policy) and matchers are
checked by :func:`heartbeat_problems`, which names the place.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from relay.core.durations import Duration, format_duration, within
from relay.core.secrets import StrictModel

#: A heartbeat's name is a label value, part of a store key and of a URL: kept plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
#: Labels relay sets on the alert it raises; a heartbeat's ``labels`` cannot change them.
OWN_LABELS = ("alertname", "heartbeat")

Finding = tuple[tuple[str | int, ...], str]


class HeartbeatConfig(StrictModel):
    name: str
    matchers: list[str] = Field(min_length=1)
    interval: Annotated[Duration, within(1, 86400)] = 60.0
    grace: Annotated[Duration, within(1, 7 * 86400)] = 300.0
    receiver: str
    # The escalation policy the missing-heartbeat alert's group follows (optional).
    escalation: str | None = None
    # Also route the beats as ordinary alerts (default: they are consumed).
    forward: bool = False
    # Extra labels on the HeartbeatMissing alert (templates and the console show them).
    labels: dict[str, str] = Field(default_factory=lambda: {"severity": "critical"})
    # How often the missing-heartbeat notification is repeated; default: the root route's.
    repeat_interval: Annotated[Duration, within(60, 30 * 86400)] | None = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r}: a heartbeat's name is 1 to 63 letters, digits, '_', '.' or '-',"
                " starting with a letter or digit (it becomes a label value and part of a URL)"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _not_own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in OWN_LABELS:
            if name in value:
                raise ValueError(f"{name!r} is set by relay on the alert it raises; choose another label")
        return value

    @model_validator(mode="after")
    def _grace_covers_interval(self) -> HeartbeatConfig:
        if self.grace < self.interval:
            raise ValueError(
                f"grace ({format_duration(self.grace)}) is shorter than interval"
                f" ({format_duration(self.interval)}): every healthy gap between two beats"
                " would page; make grace a few intervals long"
            )
        return self


def heartbeat_problems(raw: dict[str, Any], receivers: set[str], policies: set[str]) -> list[Finding]:
    """Each heartbeat's matchers parse, its receiver and escalation policy exist, and
    names are unique."""
    from relay.core.matchers import parse_matcher

    problems: list[Finding] = []
    entries = raw.get("heartbeats")
    first: dict[str, int] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        where: tuple[str | int, ...] = ("heartbeats", index)
        name = entry.get("name")
        if isinstance(name, str) and name:
            if name in first:
                problems.append(
                    (
                        (*where, "name"),
                        f"duplicate heartbeat name {name!r} (first at heartbeats[{first[name]}])",
                    )
                )
            first.setdefault(name, index)
        matchers = entry.get("matchers")
        for i, text in enumerate(matchers if isinstance(matchers, list) else []):
            if not isinstance(text, str):
                continue
            try:
                parse_matcher(text)
            except ValueError as exc:
                problems.append(((*where, "matchers", i), str(exc)))
        receiver = entry.get("receiver")
        if isinstance(receiver, str) and receiver not in receivers:
            problems.append(
                (
                    (*where, "receiver"),
                    f"unknown receiver {receiver!r} (known: {', '.join(sorted(receivers)) or 'none'})",
                )
            )
        escalation = entry.get("escalation")
        if isinstance(escalation, str) and escalation not in policies:
            problems.append(
                (
                    (*where, "escalation"),
                    f"unknown escalation policy {escalation!r} "
                    f"(known: {', '.join(sorted(policies)) or 'none'}; define it under escalation_policies)",
                )
            )
    return problems
