"""The ``people:`` and ``schedules:`` sections: who can be paged, and who is on call when.

```yaml
people:
  - name: zhangsan
    display_name: 张三
    email: zhangsan@example.com
    phone: "+8613800000001"
    ids: {wecom: ZhangSan, dingtalk: "13800000001", feishu: ou_7d8a..., slack: U012AB3CD}
schedules:
  - name: sre
    time_zone: Asia/Shanghai
    rotations:
      - {people: [zhangsan, lisi], start: "2026-12-07T10:00:00", shift: 1w}
    overrides:
      - {person: lisi, start: "2026-12-24T10:00:00", end: "2026-12-26T10:00:00"}
```

Times in a schedule are wall times of its ``time_zone``, written without an offset.
References between sections (a rotation's people, an override's person, a layer's time
intervals) are checked by :func:`oncall_problems`, which names the place.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from relay.core.durations import Duration, within
from relay.core.schedules import Override, Rotation, Schedule
from relay.core.secrets import StrictModel
from relay.core.timeintervals import TimeIntervalSpec

#: The channels a person can have an address for, and what it is.
ID_KINDS = {
    "wecom": "WeCom userid (a robot's mentioned_list, an application's touser)",
    "dingtalk": "the mobile number (a robot's atMobiles) or a DingTalk userid",
    "feishu": "the Feishu open_id (ou_...)",
    "slack": "the Slack user id (U...)",
    "telegram": "the Telegram user id (digits)",
    "msteams": "the Teams user id or UPN",
}
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _wall_time(value: Any) -> Any:
    """A wall time: text like 2026-12-07T10:00:00 without an offset (YAML's own
    timestamps are read as text too, so that the zone is the schedule's)."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None).isoformat()
    if not isinstance(value, str):
        raise ValueError(f"expected a time such as '2026-12-07T10:00:00', got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected a time such as '2026-12-07T10:00:00', got {value!r}") from None
    if parsed.tzinfo is not None:
        raise ValueError(
            f"{value!r} has a UTC offset: write the wall time of the schedule's time_zone, without one"
        )
    return parsed


WallTime = Annotated[datetime, BeforeValidator(_wall_time)]


class PersonConfig(StrictModel):
    name: str
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    ids: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r}: a person's name is an id: 1-64 letters, digits, '_', '.', '@' or '-'"
            )
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _E164.match(value):
            raise ValueError(f"{value!r} is not an E.164 number: write it like +8613800000001")
        return value

    @field_validator("ids")
    @classmethod
    def _ids(cls, value: dict[str, str]) -> dict[str, str]:
        for kind, address in value.items():
            if kind not in ID_KINDS:
                raise ValueError(f"unknown channel {kind!r} (known: {', '.join(ID_KINDS)})")
            if not isinstance(address, str) or not address.strip():
                raise ValueError(f"{kind}: expected {ID_KINDS[kind]}")
        return value

    @property
    def shown(self) -> str:
        """How messages and the console name this person."""
        return self.display_name or self.name


class RotationConfig(StrictModel):
    people: list[str] = Field(min_length=1)
    start: WallTime
    shift: Annotated[Duration, within(60, 366 * 86400)]
    active_time_intervals: list[str] = Field(default_factory=list)


class OverrideConfig(StrictModel):
    person: str
    start: WallTime
    end: WallTime

    @model_validator(mode="after")
    def _ends_after_start(self) -> OverrideConfig:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None
    return value


class ScheduleConfig(StrictModel):
    name: str
    time_zone: Annotated[str, BeforeValidator(_zone)] = "UTC"
    rotations: list[RotationConfig] = Field(min_length=1)
    overrides: list[OverrideConfig] = Field(default_factory=list)

    def model(
        self, intervals: dict[str, tuple[TimeIntervalSpec, ...]], runtime: tuple[Override, ...] = ()
    ) -> Schedule:
        """The schedule as relay.core.schedules computes it; ``runtime`` overrides (made
        through the API) come after the file's, so they win where they overlap."""
        zone = ZoneInfo(self.time_zone)
        rotations = tuple(
            Rotation(
                tuple(r.people),
                r.start,
                timedelta(seconds=r.shift),
                tuple(s for name in r.active_time_intervals for s in intervals.get(name, ()))
                if r.active_time_intervals
                else None,
            )
            for r in self.rotations
        )
        overrides = tuple(
            Override(
                o.person,
                o.start.replace(tzinfo=zone, fold=0).timestamp(),
                o.end.replace(tzinfo=zone, fold=0).timestamp(),
            )
            for o in self.overrides
        )
        return Schedule(self.name, self.time_zone, rotations, overrides + runtime)


Finding = tuple[tuple[str | int, ...], str]


def _as_wall(value: Any) -> datetime | None:
    try:
        parsed: datetime = _wall_time(value)
    except ValueError:
        return None
    return parsed


def oncall_problems(raw: dict[str, Any], people: set[str], intervals: set[str]) -> list[Finding]:
    """References of ``schedules:``: each rotation's people and time intervals, each
    override's person (one of the schedule's rotations'), overrides that overlap."""
    problems: list[Finding] = []
    schedules = raw.get("schedules")
    for s, schedule in enumerate(schedules if isinstance(schedules, list) else []):
        if not isinstance(schedule, dict):
            continue
        rotating: set[str] = set()
        rotations = schedule.get("rotations")
        for r, rotation in enumerate(rotations if isinstance(rotations, list) else []):
            if not isinstance(rotation, dict):
                continue
            names = rotation.get("people")
            for p, name in enumerate(names if isinstance(names, list) else []):
                if isinstance(name, str):
                    rotating.add(name)
                    if name not in people:
                        problems.append(
                            (
                                ("schedules", s, "rotations", r, "people", p),
                                f"unknown person {name!r} (known: {', '.join(sorted(people)) or 'none'}; add"
                                " them under people:)",
                            )
                        )
            used = rotation.get("active_time_intervals")
            for i, name in enumerate(used if isinstance(used, list) else []):
                if isinstance(name, str) and name not in intervals:
                    problems.append(
                        (
                            ("schedules", s, "rotations", r, "active_time_intervals", i),
                            f"unknown time interval {name!r} (define it under time_intervals)",
                        )
                    )
        overrides = schedule.get("overrides")
        spans: list[tuple[datetime, datetime, int]] = []
        for o, override in enumerate(overrides if isinstance(overrides, list) else []):
            if not isinstance(override, dict):
                continue
            person = override.get("person")
            if isinstance(person, str) and person not in rotating:
                problems.append(
                    (
                        ("schedules", s, "overrides", o, "person"),
                        f"{person!r} is in none of this schedule's rotations"
                        f" ({', '.join(sorted(rotating)) or 'nobody'})",
                    )
                )
            start, end = _as_wall(override.get("start")), _as_wall(override.get("end"))
            if start is None or end is None:
                continue  # the schema says what is wrong with it
            for other_start, other_end, other in spans:
                if start < other_end and other_start < end:
                    problems.append(
                        (
                            ("schedules", s, "overrides", o),
                            f"overlaps overrides[{other}]"
                            f" ({other_start.isoformat()} to {other_end.isoformat()})",
                        )
                    )
            spans.append((start, end, o))
    return problems
