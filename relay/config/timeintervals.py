"""The ``time_intervals:`` section, written as in Alertmanager's config.

```yaml
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "08:00"}]
        weekdays: ["monday:friday"]
        location: Asia/Shanghai
```

Each value is checked where it is written, so a mistake is reported as
``time_intervals[0].time_intervals[1].weekdays[0]: 'funday' is not a weekday ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from relay.core.secrets import StrictModel
from relay.core.timeintervals import (
    InclusiveRange,
    TimeIntervalSpec,
    TimeRange,
    parse_day_of_month_range,
    parse_location,
    parse_month_range,
    parse_time,
    parse_time_range,
    parse_weekday_range,
    parse_year_range,
)


def _text_then(parse: Callable[[str], InclusiveRange]) -> Callable[[Any], InclusiveRange]:
    """Numbers are accepted as text (``years: [2025]``), as Alertmanager's YAML does."""

    def validate(value: Any) -> InclusiveRange:
        if isinstance(value, InclusiveRange):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"expected text such as 'a' or 'a:b', got {value!r}")
        return parse(value)

    return validate


Weekdays = Annotated[InclusiveRange, BeforeValidator(_text_then(parse_weekday_range))]
DaysOfMonth = Annotated[InclusiveRange, BeforeValidator(_text_then(parse_day_of_month_range))]
Months = Annotated[InclusiveRange, BeforeValidator(_text_then(parse_month_range))]
Years = Annotated[InclusiveRange, BeforeValidator(_text_then(parse_year_range))]


class TimeRangeConfig(StrictModel):
    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        parse_time(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeConfig:
        parse_time_range(self.start_time, self.end_time)
        return self

    def to_range(self) -> TimeRange:
        return parse_time_range(self.start_time, self.end_time)


class TimeIntervalSpecConfig(StrictModel):
    """A missing field leaves that part of the time free; an empty list matches nothing,
    which is refused as a likely mistake."""

    times: list[TimeRangeConfig] | None = None
    weekdays: list[Weekdays] | None = None
    days_of_month: list[DaysOfMonth] | None = None
    months: list[Months] | None = None
    years: list[Years] | None = None
    location: str | None = None

    @field_validator("times", "weekdays", "days_of_month", "months", "years")
    @classmethod
    def _not_empty(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None and not value:
            raise ValueError("an empty list matches no time at all; leave the key out to mean any time")
        return value

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return parse_location(value) if value is not None else None

    def to_spec(self) -> TimeIntervalSpec:
        def ranges(values: list[InclusiveRange] | None) -> tuple[InclusiveRange, ...] | None:
            return tuple(values) if values is not None else None

        return TimeIntervalSpec(
            times=tuple(t.to_range() for t in self.times) if self.times is not None else None,
            weekdays=ranges(self.weekdays),
            days_of_month=ranges(self.days_of_month),
            months=ranges(self.months),
            years=ranges(self.years),
            location=self.location,
        )


class TimeIntervalConfig(StrictModel):
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalSpecConfig]

    def specs(self) -> tuple[TimeIntervalSpec, ...]:
        return tuple(spec.to_spec() for spec in self.time_intervals)
