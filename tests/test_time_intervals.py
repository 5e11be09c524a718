"""Time intervals: Alertmanager's own cases (timeinterval_test.go), ported, and when the
interval in force ends (DST, day and month boundaries, several locations)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from relay.config import InvalidConfig, parse_config
from relay.config.timeintervals import TimeIntervalSpecConfig, TimeRangeConfig
from relay.core.timeintervals import (
    InclusiveRange,
    TimeIntervalSpec,
    TimeRange,
    in_force,
    next_change,
)
from relay.pipeline.routing import Route
from relay.pipeline.timegate import names_in_force, route_gate

R = InclusiveRange
SPECS = TypeAdapter(list[TimeIntervalSpecConfig])


def at(text: str) -> float:
    """Go's time.RFC822Z ('02 Jan 06 15:04 +0000') as unix seconds."""
    return datetime.strptime(text, "%d %b %y %H:%M %z").timestamp()


def specs_of(text: str) -> list[TimeIntervalSpec]:
    return [c.to_spec() for c in SPECS.validate_python(yaml.safe_load(text))]


# -- timeIntervalTestCases (TestContainsTime) -------------------------------------------

CONTAINS_CASES = [
    (TimeIntervalSpec(), ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000", "04 Jan 06 09:04 +0000"], []),
    # 9am to 5pm, monday to friday
    (
        TimeIntervalSpec(times=(TimeRange(540, 1020),), weekdays=(R(1, 5),)),
        ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
        ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"],
    ),
    # Easter 2020
    (
        TimeIntervalSpec(days_of_month=(R(4, 6),), months=(R(4, 4),), years=(R(2020, 2020),)),
        ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
        [
            "03 May 18 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
        ],
    ),
    # Negative days of month: the last 3 days of each month
    (
        TimeIntervalSpec(days_of_month=(R(-3, -1),)),
        [
            "31 Jan 20 15:04 +0000",
            "30 Jan 20 15:04 +0000",
            "29 Jan 20 15:04 +0000",
            "30 Jun 20 00:00 +0000",
            "29 Feb 20 23:05 +0000",
        ],
        [
            "03 May 18 15:04 +0000",
            "27 Jan 20 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
            "01 Mar 20 00:00 +0000",
        ],
    ),
    # Out of bound days are clamped to the month's boundaries
    (
        TimeIntervalSpec(months=(R(6, 6),), days_of_month=(R(-31, 31),)),
        ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        ["31 May 20 00:00 +0000", "1 Jul 20 00:00 +0000"],
    ),
    # Another location: AEST 9AM to 5PM, Monday to Friday
    (
        TimeIntervalSpec(times=(TimeRange(540, 1020),), weekdays=(R(1, 5),), location="Australia/Sydney"),
        ["06 Apr 21 13:00 +1000"],
        ["06 Apr 21 13:00 +0000"],
    ),
    # Another location during daylight saving time
    (
        TimeIntervalSpec(
            times=(TimeRange(540, 1020),),
            weekdays=(R(1, 5),),
            months=(R(11, 11),),
            location="Australia/Sydney",
        ),
        ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        ["31 Oct 21 21:00 +0000"],
    ),
    # Last-day mutes do not shift during spring-forward months
    (
        TimeIntervalSpec(days_of_month=(R(-1, -1),), location="America/New_York"),
        ["31 Mar 21 12:00 -0400"],
        ["30 Mar 21 12:00 -0400"],
    ),
]


@pytest.mark.parametrize(("spec", "inside", "outside"), CONTAINS_CASES)
def test_contains_time(spec: TimeIntervalSpec, inside: list[str], outside: list[str]) -> None:
    for text in inside:
        assert spec.contains(at(text)), text
    for text in outside:
        assert not spec.contains(at(text)), text


# -- timeStringTestCases (TestParseTimeString) ------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("00:00", "24:00", TimeRange(0, 1440)),
        ("01:35", "17:39", TimeRange(95, 1059)),
        ("09:35", "09:39", TimeRange(575, 579)),
        ("17:31", "17:31", None),  # begin and end the same
        ("12:30", "24:01", None),  # end out of range
        ("09:30", "07:41", None),  # start after end
        ("24:00", "17:41", None),  # start out of range and after end
    ],
)
def test_parse_time_range(start: str, end: str, expected: TimeRange | None) -> None:
    if expected is None:
        with pytest.raises(ValidationError):
            TimeRangeConfig(start_time=start, end_time=end)
    else:
        assert TimeRangeConfig(start_time=start, end_time=end).to_range() == expected


def test_a_time_range_needs_both_ends() -> None:
    with pytest.raises(ValidationError, match="end_time"):
        TimeRangeConfig.model_validate({"start_time": "14:03"})


# -- yamlUnmarshalTestCases (TestYamlUnmarshal) -----------------------------------------


def test_business_hours() -> None:
    specs = specs_of("""
- weekdays: ['monday:friday']
  times:
    - start_time: '09:00'
      end_time: '17:00'
""")
    assert specs == [TimeIntervalSpec(times=(TimeRange(540, 1020),), weekdays=(R(1, 5),))]
    for text in ("08 Jul 20 09:00 +0000", "08 Jul 20 16:59 +0000", "01 Apr 21 13:00 +0000"):
        assert in_force(specs, at(text)), text
    for text in ("08 Jul 20 05:00 +0000", "08 Jul 20 08:59 +0000"):
        assert not in_force(specs, at(text)), text


def test_negative_indices_and_ranges() -> None:
    # The last week, excluding Saturday, of the first quarter, in business hours, 2020
    # to 2025 and 2030 to 2035.
    specs = specs_of("""
- weekdays: ['monday:friday', 'sunday']
  months: ['january:march']
  days_of_month: ['-7:-1']
  years: ['2020:2025', '2030:2035']
  times:
    - start_time: '09:00'
      end_time: '17:00'
""")
    assert specs == [
        TimeIntervalSpec(
            times=(TimeRange(540, 1020),),
            weekdays=(R(1, 5), R(0, 0)),
            days_of_month=(R(-7, -1),),
            months=(R(1, 3),),
            years=(R(2020, 2025), R(2030, 2035)),
        )
    ]
    for text in (
        "27 Jan 21 09:00 +0000",
        "28 Jan 21 16:59 +0000",
        "29 Jan 21 13:00 +0000",
        "31 Mar 25 13:00 +0000",
        "31 Jan 35 13:00 +0000",
    ):
        assert in_force(specs, at(text)), text
    for text in (
        "30 Jan 21 13:00 +0000",
        "01 Apr 21 13:00 +0000",
        "30 Jan 26 13:00 +0000",
        "31 Jan 35 17:01 +0000",
    ):
        assert not in_force(specs, at(text)), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- days_of_month: ['1:-1']", TimeIntervalSpec(days_of_month=(R(1, -1),))),
        ("- months: ['January:december']", TimeIntervalSpec(months=(R(1, 12),))),
        (
            "- years: ['2020:2022']\n  location: 'Australia/Sydney'",
            TimeIntervalSpec(years=(R(2020, 2022),), location="Australia/Sydney"),
        ),
        # Numbers written without quotes, as Alertmanager's YAML accepts them.
        (
            "- years: [2024]\n  days_of_month: [1, -1]\n  months: [2]",
            TimeIntervalSpec(years=(R(2024, 2024),), days_of_month=(R(1, 1), R(-1, -1)), months=(R(2, 2),)),
        ),
    ],
)
def test_valid_specs(text: str, expected: TimeIntervalSpec) -> None:
    assert specs_of(text) == [expected]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "- times: [{start_time: '01:99', end_time: '23:59'}]",
            (0, "times", 0, "start_time"),
            "'01:99' is not a time",
        ),
        (
            "- times: [{start_time: '00:00', end_time: '99:99'}]",
            (0, "times", 0, "end_time"),
            "'99:99' is not a time",
        ),
        ("- weekdays: ['friday:monday']", (0, "weekdays", 0), "cannot wrap past saturday"),
        ("- weekdays: ['blurgsday:flurgsday']", (0, "weekdays", 0), "'blurgsday' is not a weekday"),
        ("- weekdays: ['1:3']", (0, "weekdays", 0), "'1' is not a weekday"),
        ("- weekdays: ['-2:-1']", (0, "weekdays", 0), "'-2' is not a weekday"),
        ("- days_of_month: ['0']", (0, "days_of_month", 0), "0 is not a day of the month"),
        ("- days_of_month: ['-50:-20']", (0, "days_of_month", 0), "-50 is not a day of the month"),
        ("- days_of_month: ['1:50']", (0, "days_of_month", 0), "50 is not a day of the month"),
        (
            "- days_of_month: ['-15:5']",
            (0, "days_of_month", 0),
            "end day must be negative when the start day is",
        ),
        ("- days_of_month: ['10:-25']", (0, "days_of_month", 0), "end day -25 is always before start day 10"),
        ("- months: ['martius:june']", (0, "months", 0), "'martius' is not a month"),
        ("- months: ['march:junius']", (0, "months", 0), "'junius' is not a month"),
        (
            "- months: ['december:january']",
            (0, "months", 0),
            "end month january is before start month december",
        ),
        ("- years: ['2022:2020']", (0, "years", 0), "end year 2020 is before start year 2022"),
        ("- location: 'Mars/Olympus'", (0, "location"), "unknown IANA time zone 'Mars/Olympus'"),
        ("- weekdays: []", (0, "weekdays"), "an empty list matches no time"),
    ],
)
def test_invalid_specs(text: str, where: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        specs_of(text)
    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == where
    assert message in errors[0]["msg"]


# -- completeTestCases (TestTimeIntervalComplete) ---------------------------------------


def test_complete_interval() -> None:
    specs = specs_of("""
- weekdays: ['monday:wednesday', 'saturday', 'sunday']
  times:
    - start_time: '13:00'
      end_time: '15:00'
  days_of_month: ['1', '10', '20:-1']
  years: ['2020:2023']
  months: ['january:march']
""")
    for text in ("10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"):
        assert in_force(specs, at(text)), text
    for text in ("09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"):
        assert not in_force(specs, at(text)), text


def test_days_after_the_end_of_a_short_month_are_not_clamped_into_it() -> None:
    specs = specs_of("- days_of_month: ['30:31']\n  years: ['2020:2023']\n  months: ['february']")
    assert not in_force(specs, at("28 Feb 21 13:00 +0000"))


# -- TestIntervener_Mutes ---------------------------------------------------------------

SYDNEY = ZoneInfo("Australia/Sydney")
EVENINGS_AND_WEEKENDS = {
    "evenings": [
        TimeIntervalSpec(times=(TimeRange(0, 540), TimeRange(1020, 1440)), location="Australia/Sydney")
    ],
    "weekends": [TimeIntervalSpec(weekdays=(R(6, 6), R(0, 0)), location="Australia/Sydney")],
}


@pytest.mark.parametrize(
    ("now", "muted_by"),
    [
        (datetime(2024, 1, 1, 0, 0, tzinfo=SYDNEY), ("evenings",)),  # outside working hours
        (datetime(2024, 1, 1, 9, 0, tzinfo=SYDNEY), ()),  # during working hours
        (datetime(2024, 1, 6, 10, 0, tzinfo=SYDNEY), ("weekends",)),
        (datetime(2024, 1, 6, 17, 0, tzinfo=SYDNEY), ("evenings", "weekends")),
        (datetime(2024, 1, 1, 10, 0, tzinfo=UTC), ("evenings",)),  # 12pm UTC on a weekday
        (datetime(2024, 1, 6, 10, 0, tzinfo=UTC), ("evenings", "weekends")),
    ],
)
def test_names_in_force(now: datetime, muted_by: tuple[str, ...]) -> None:
    names = sorted(EVENINGS_AND_WEEKENDS)
    assert names_in_force(names, EVENINGS_AND_WEEKENDS, now.timestamp()) == muted_by


# -- when the interval in force ends (relay's own) --------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = specs_of("""
- times: [{start_time: '22:00', end_time: '24:00'}, {start_time: '00:00', end_time: '08:00'}]
  location: Asia/Shanghai
""")


def local(zone: ZoneInfo, *fields: int, fold: int = 0) -> float:
    return datetime(*fields, tzinfo=zone, fold=fold).timestamp()  # type: ignore[misc]


def test_a_night_window_ends_at_eight_the_next_morning() -> None:
    start = local(SHANGHAI, 2026, 3, 2, 23, 30)
    assert in_force(NIGHT, start)
    assert next_change(NIGHT, start) == local(SHANGHAI, 2026, 3, 3, 8, 0)
    # 24:00 and 00:00 meet: the window does not end at midnight.
    assert in_force(NIGHT, local(SHANGHAI, 2026, 3, 3, 0, 0))


def test_outside_the_window_the_next_change_is_its_start() -> None:
    noon = local(SHANGHAI, 2026, 3, 3, 12, 0)
    assert not in_force(NIGHT, noon)
    assert next_change(NIGHT, noon) == local(SHANGHAI, 2026, 3, 3, 22, 0)
    # end_time is excluded: at 08:00 the window is over, a minute before it is not.
    assert not in_force(NIGHT, local(SHANGHAI, 2026, 3, 3, 8, 0))
    assert in_force(NIGHT, local(SHANGHAI, 2026, 3, 3, 7, 59))


def test_weekdays_and_month_ends_carry_the_window_over_days() -> None:
    weekend = specs_of("- weekdays: [saturday, sunday]\n  location: Asia/Shanghai")
    saturday = local(SHANGHAI, 2026, 2, 28, 10, 0)  # a Saturday, the month's last day
    assert next_change(weekend, saturday) == local(SHANGHAI, 2026, 3, 2, 0, 0)
    last_days = specs_of("- days_of_month: ['-2:-1']\n  location: Asia/Shanghai")
    assert next_change(last_days, saturday) == local(SHANGHAI, 2026, 3, 1, 0, 0)
    # In a leap year February has 29 days: the window starts on the 28th.
    assert next_change(last_days, local(SHANGHAI, 2028, 2, 20, 0, 0)) == local(SHANGHAI, 2028, 2, 28, 0, 0)


def test_a_window_starting_inside_the_spring_forward_gap_starts_when_the_clock_jumps() -> None:
    # New York, 8 March 2026: 02:00 EST becomes 03:00 EDT; 02:30 never happens.
    early = specs_of("- times: [{start_time: '02:30', end_time: '04:00'}]\n  location: America/New_York")
    before = local(NEW_YORK, 2026, 3, 8, 1, 0)
    assert next_change(early, before) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC).timestamp()
    assert next_change(early, datetime(2026, 3, 8, 7, 0, tzinfo=UTC).timestamp()) == local(
        NEW_YORK, 2026, 3, 8, 4, 0
    )


def test_a_window_ending_in_the_repeated_hour_ends_at_its_second_pass() -> None:
    # New York, 1 November 2026: 01:00-02:00 happens twice (EDT, then EST). A window to
    # 01:30 is left at the first 01:30, entered again at 01:00 EST, left at 01:30 EST.
    night = specs_of("- times: [{start_time: '00:00', end_time: '01:30'}]\n  location: America/New_York")
    midnight = local(NEW_YORK, 2026, 11, 1, 0, 0)
    first_exit = next_change(night, midnight)
    assert first_exit == local(NEW_YORK, 2026, 11, 1, 1, 30, fold=0)
    assert first_exit is not None
    again = next_change(night, first_exit)
    assert again == local(NEW_YORK, 2026, 11, 1, 1, 0, fold=1)
    assert again is not None
    assert next_change(night, again) == local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)


def test_a_short_dst_day_still_ends_the_night_at_local_eight() -> None:
    # Europe/Berlin, 29 March 2026 has 23 hours; the window ends at 08:00 local (06:00 UTC).
    berlin = ZoneInfo("Europe/Berlin")
    night = specs_of("- times: [{start_time: '00:00', end_time: '08:00'}]\n  location: Europe/Berlin")
    assert (
        next_change(night, local(berlin, 2026, 3, 29, 0, 30))
        == datetime(2026, 3, 29, 6, 0, tzinfo=UTC).timestamp()
    )


def test_union_of_intervals_in_several_locations() -> None:
    # Shanghai's night and New York's night overlap; the union ends when both are over.
    both = [
        *NIGHT,
        *specs_of("- times: [{start_time: '00:00', end_time: '06:00'}]\n  location: America/New_York"),
    ]
    # 2026-03-03 07:00 Shanghai = 2026-03-02 18:00 New York: only Shanghai's night.
    start = local(SHANGHAI, 2026, 3, 3, 7, 0)
    assert next_change(both, start) == local(SHANGHAI, 2026, 3, 3, 8, 0)
    # Shanghai's next night starts at 22:00 (09:00 New York); New York's at 00:00 NY =
    # 13:00 Shanghai: the union is in force from 22:00 until New York's 06:00 (19:00).
    assert next_change(both, local(SHANGHAI, 2026, 3, 3, 8, 0)) == local(SHANGHAI, 2026, 3, 3, 13, 0)
    assert next_change(both, local(SHANGHAI, 2026, 3, 3, 13, 0)) == local(SHANGHAI, 2026, 3, 3, 19, 0)


def test_no_change_within_the_horizon() -> None:
    always = [TimeIntervalSpec()]
    assert next_change(always, local(SHANGHAI, 2026, 3, 3, 8, 0)) is None
    assert next_change([], 0.0) is None
    years = specs_of("- years: ['2026']")
    assert (
        next_change(years, datetime(2026, 12, 31, 23, 0, tzinfo=UTC).timestamp())
        == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    )


def test_config_errors_name_the_place() -> None:
    text = """
time_intervals:
  - name: night
    time_intervals:
      - weekdays: ['monday:friday']
      - weekdays: ['funday']
route:
  receiver: r
  mute_time_intervals: [nite]
  routes:
    - hold_time_intervals: [night]
receivers: [{name: r}]
"""
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text)
    problems = caught.value.problems
    assert any(
        p.startswith("time_intervals[0].time_intervals[1].weekdays[0]: 'funday' is not a weekday")
        for p in problems
    ), problems
    assert any(
        p.startswith("route.mute_time_intervals[0]: unknown time interval 'nite'") for p in problems
    ), problems
    assert len(problems) == 2, problems


def test_duplicate_interval_names_are_refused() -> None:
    text = """
time_intervals:
  - {name: night, time_intervals: [{times: [{start_time: '00:00', end_time: '08:00'}]}]}
  - {name: night, time_intervals: []}
route: {receiver: r}
receivers: [{name: r}]
"""
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text)
    assert caught.value.problems == [
        "time_intervals[1].name: duplicate time interval name 'night' (first at time_intervals[0])"
    ]


# -- next_change against a minute-by-minute scan ------------------------------------------

ZONES = [
    None,
    "Asia/Shanghai",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
]
# Instants near DST changes and month ends, where a shortcut would go wrong first.
STARTS = [
    "2026-03-08T05:30:00+00:00",
    "2026-11-01T04:10:00+00:00",
    "2026-03-29T00:20:00+00:00",
    "2026-10-25T00:40:00+00:00",
    "2026-04-04T14:50:00+00:00",
    "2026-02-27T21:00:00+00:00",
    "2026-12-31T20:00:00+00:00",
    "2026-09-05T03:00:00+00:00",
]


def random_spec(rng: random.Random) -> TimeIntervalSpec:
    def maybe(make):  # type: ignore[no-untyped-def]
        return make() if rng.random() < 0.5 else None

    def times() -> tuple[TimeRange, ...]:
        out = []
        for _ in range(rng.randint(1, 2)):
            start = rng.randrange(0, 1440, 30)
            out.append(TimeRange(start, rng.randrange(start + 30, 1441, 30)))
        return tuple(out)

    def weekdays() -> tuple[InclusiveRange, ...]:
        first = rng.randint(0, 6)
        return (R(first, rng.randint(first, 6)),)

    def days() -> tuple[InclusiveRange, ...]:
        return (rng.choice([R(1, 1), R(-1, -1), R(-3, -1), R(27, 31), R(1, 15)]),)

    return TimeIntervalSpec(
        times=maybe(times), weekdays=maybe(weekdays), days_of_month=maybe(days), location=rng.choice(ZONES)
    )


def scanned_change(specs: list[TimeIntervalSpec], when: float, days: int) -> float | None:
    state = in_force(specs, when)
    minute = (int(when) // 60 + 1) * 60
    for t in range(minute, int(when) + days * 86400, 60):
        if in_force(specs, t) != state:
            return float(t)
    return None


@pytest.mark.parametrize("seed", range(96))
def test_next_change_matches_a_minute_by_minute_scan(seed: int) -> None:
    rng = random.Random(seed)
    specs = [random_spec(rng) for _ in range(rng.randint(1, 2))]
    when = datetime.fromisoformat(rng.choice(STARTS)).timestamp() + rng.randrange(0, 3600, 7)
    scanned = scanned_change(specs, when, days=2)
    found = next_change(specs, when)
    if scanned is None:
        assert found is None or found > when + 2 * 86400 - 60, (specs, when)
    else:
        assert found == scanned, (specs, when)


# -- TestTimeMuteStage and TestTimeActiveStage (notify/mute_test.go), at the route -------


def route_with(**names: tuple[str, ...]) -> Route:
    return Route(
        id="0",
        receiver="r",
        group_by=(),
        group_by_all=False,
        group_wait=30,
        group_interval=300,
        repeat_interval=14400,
        matchers=(),
        continue_=False,
        routes=[],
        **names,
    )


@pytest.mark.parametrize(
    ("now", "gate"),
    [
        (datetime(2024, 1, 1, 0, 0, tzinfo=SYDNEY), "muted"),  # outside working hours
        (datetime(2024, 1, 1, 9, 0, tzinfo=SYDNEY), "send"),  # during working hours
        (datetime(2024, 1, 6, 10, 0, tzinfo=SYDNEY), "muted"),  # weekend
        (datetime(2024, 1, 1, 10, 0, tzinfo=UTC), "muted"),  # 12pm UTC on a weekday
        (datetime(2024, 1, 6, 10, 0, tzinfo=UTC), "muted"),  # 12pm UTC on a weekend
    ],
)
def test_time_mute_stage(now: datetime, gate: str) -> None:
    route = route_with(mute_time_intervals=("evenings", "weekends"))
    assert route_gate(route, EVENINGS_AND_WEEKENDS, now.timestamp()) == gate


WEEKDAYS = {
    "weekdays": [
        TimeIntervalSpec(weekdays=(R(1, 5),), times=(TimeRange(540, 1020),), location="Australia/Sydney")
    ]
}


@pytest.mark.parametrize(
    ("now", "gate"),
    [
        (datetime(2024, 1, 1, 0, 0, tzinfo=SYDNEY), "inactive"),  # outside working hours
        (datetime(2024, 1, 1, 9, 0, tzinfo=SYDNEY), "send"),  # during working hours
        (datetime(2024, 1, 6, 10, 0, tzinfo=SYDNEY), "inactive"),  # weekend
        (datetime(2024, 1, 6, 10, 0, tzinfo=UTC), "inactive"),  # 12pm UTC
    ],
)
def test_time_active_stage(now: datetime, gate: str) -> None:
    route = route_with(active_time_intervals=("weekdays",))
    assert route_gate(route, WEEKDAYS, now.timestamp()) == gate


def test_inactive_comes_before_muted_and_both_before_held() -> None:
    # Alertmanager runs TimeActiveStage, then TimeMuteStage; relay's hold comes last.
    intervals = {**EVENINGS_AND_WEEKENDS, **WEEKDAYS}
    saturday = datetime(2024, 1, 6, 10, 0, tzinfo=SYDNEY).timestamp()
    both = route_with(
        active_time_intervals=("weekdays",),
        mute_time_intervals=("weekends",),
        hold_time_intervals=("weekends",),
    )
    assert route_gate(both, intervals, saturday) == "inactive"
    assert (
        route_gate(
            route_with(mute_time_intervals=("weekends",), hold_time_intervals=("weekends",)),
            intervals,
            saturday,
        )
        == "muted"
    )
    assert route_gate(route_with(hold_time_intervals=("weekends",)), intervals, saturday) == "held"
