"""Who is on call (relay.core.schedules): hand-offs at the shift boundary, across DST
changes, layers with active time intervals, overrides; and the stretches the calendar
and the console show, property-tested against a minute-by-minute reference."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.schedules import Override, Rotation, Schedule, next_hand_offs, on_call, shifts
from relay.core.timeintervals import InclusiveRange, TimeIntervalSpec

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def weekly(start: str = "2026-12-07T10:00:00") -> Rotation:
    return Rotation(("zhangsan", "lisi", "wangwu"), datetime.fromisoformat(start), timedelta(weeks=1))


def test_the_hand_off_is_at_the_shift_boundary_in_shanghai() -> None:
    sre = Schedule("sre", "Asia/Shanghai", (weekly(),))
    assert on_call(sre, at("2026-12-07T09:59:59", SHANGHAI)) == (None, "")  # before the first shift
    assert on_call(sre, at("2026-12-07T10:00:00", SHANGHAI)) == ("zhangsan", "rotation 1")
    assert on_call(sre, at("2026-12-14T09:59:59", SHANGHAI))[0] == "zhangsan"
    assert on_call(sre, at("2026-12-14T10:00:00", SHANGHAI))[0] == "lisi"
    assert on_call(sre, at("2026-12-28T10:00:00", SHANGHAI))[0] == "zhangsan"  # round again


def test_a_daily_hand_off_stays_at_10_local_across_dst_in_berlin() -> None:
    daily = Rotation(("anna", "ben"), datetime(2026, 3, 26, 10, 0), timedelta(days=1))
    team = Schedule("eu", "Europe/Berlin", (daily,))
    # Summer time starts on 29 March 2026 at 02:00: that day is 23 hours long.
    stretches = shifts(team, at("2026-03-28T12:00:00", BERLIN), at("2026-03-31T12:00:00", BERLIN))
    starts = [datetime.fromtimestamp(s.start, BERLIN).strftime("%m-%d %H:%M") for s in stretches]
    assert starts == ["03-28 12:00", "03-29 10:00", "03-30 10:00", "03-31 10:00"]
    assert stretches[1].end - stretches[1].start == 24 * 3600  # 29th 10:00 to 30th 10:00 (both CEST)
    assert stretches[0].end - at("2026-03-28T10:00:00", BERLIN) == 23 * 3600
    # And back in October (25 October 2026): a 25-hour day.
    autumn = shifts(team, at("2026-10-24T10:00:00", BERLIN), at("2026-10-26T10:00:00", BERLIN))
    assert [s.end - s.start for s in autumn] == [25 * 3600, 24 * 3600]


def test_a_hand_off_in_the_skipped_hour_happens_as_if_the_clock_had_not_moved() -> None:
    nightly = Rotation(("anna", "ben"), datetime(2026, 3, 27, 2, 30), timedelta(days=1))
    team = Schedule("eu", "Europe/Berlin", (nightly,))
    # 29 March 02:30 does not exist in Berlin: that hand-off is at 03:30 CEST.
    assert on_call(team, at("2026-03-29T03:29:00", BERLIN))[0] == "ben"
    assert on_call(team, at("2026-03-29T03:30:00", BERLIN))[0] == "anna"


def test_a_later_layer_wins_where_its_time_interval_is_in_force() -> None:
    weekends = (
        TimeIntervalSpec(weekdays=(InclusiveRange(6, 6), InclusiveRange(0, 0)), location="Asia/Shanghai"),
    )
    cover = Rotation(("zhaoliu",), datetime(2026, 12, 5), timedelta(weeks=1), active=weekends)
    sre = Schedule("sre", "Asia/Shanghai", (weekly(), cover))
    assert on_call(sre, at("2026-12-11T12:00:00", SHANGHAI)) == ("zhangsan", "rotation 1")  # a Friday
    assert on_call(sre, at("2026-12-12T12:00:00", SHANGHAI)) == ("zhaoliu", "rotation 2")  # Saturday
    assert on_call(sre, at("2026-12-14T00:00:00", SHANGHAI)) == ("zhangsan", "rotation 1")  # Monday 00:00


def test_overrides_win_and_the_later_of_two_wins() -> None:
    swap = Override("lisi", at("2026-12-24T10:00:00", SHANGHAI), at("2026-12-26T10:00:00", SHANGHAI))
    later = Override(
        "wangwu", at("2026-12-25T00:00:00", SHANGHAI), at("2026-12-25T06:00:00", SHANGHAI), by="ops"
    )
    sre = Schedule("sre", "Asia/Shanghai", (weekly(),), (swap, later))
    assert on_call(sre, at("2026-12-24T09:59:00", SHANGHAI))[0] == "wangwu"  # rotation: third week
    assert on_call(sre, at("2026-12-24T10:00:00", SHANGHAI)) == ("lisi", "override by config")
    assert on_call(sre, at("2026-12-25T01:00:00", SHANGHAI)) == ("wangwu", "override by ops")
    ahead = next_hand_offs(sre, at("2026-12-24T09:00:00", SHANGHAI), 3)
    assert [s.person for s in ahead] == ["lisi", "wangwu", "lisi"]


# -- against a minute-by-minute reference ---------------------------------------------------

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]
SHIFTS = [
    timedelta(minutes=90),
    timedelta(hours=12),
    timedelta(days=1),
    timedelta(weeks=1),
    timedelta(hours=5),
]


def reference(rotation: Rotation, zone: ZoneInfo, when: float) -> str | None:
    """Count the hand-offs up to ``when`` one by one from the first."""
    index = -1
    while True:
        wall = rotation.start + rotation.shift * (index + 1)
        if wall.replace(tzinfo=zone).timestamp() > when:
            break
        index += 1
    return None if index < 0 else rotation.people[index % len(rotation.people)]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    shift=st.sampled_from(SHIFTS),
    people=st.integers(1, 4),
    start_minute=st.integers(0, 60 * 24 * 20),
    window_offset=st.integers(-60 * 24 * 3, 60 * 24 * 30),
)
def test_stretches_match_a_minute_by_minute_reference(
    zone: str, shift: timedelta, people: int, start_minute: int, window_offset: int
) -> None:
    # Starts around the March changes (northern spring, southern autumn) of 2026.
    start = datetime(2026, 3, 15) + timedelta(minutes=start_minute)
    rotation = Rotation(tuple(f"p{i}" for i in range(people)), start, shift)
    schedule = Schedule("s", zone, (rotation,))
    tz = ZoneInfo(zone)
    begin = start.replace(tzinfo=tz).timestamp() + window_offset * 60
    end = begin + 2 * 86400
    stretches = shifts(schedule, begin, end)
    assert stretches[0].start == begin and stretches[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(stretches))
    for stretch in stretches:
        minute = stretch.start
        while minute < stretch.end:
            assert stretch.person == reference(rotation, tz, minute), (zone, shift, minute)
            minute += 60 * 7  # every seventh minute: a 5-hour shift in 2 days is still hit
