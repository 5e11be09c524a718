"""GET /api/v1/schedules/{name}.ics: the next eight weeks of shifts, one event per shift
naming the person, read back with an independent iCalendar parser (the icalendar
package), across a daylight-saving change."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from relay.core.clock import FakeClock

CONFIG = """
route: {receiver: ops}
receivers: [{name: ops, log_configs: [{}]}]
people:
  - {name: anna, display_name: "Anna; the \\\\first, on call"}
  - {name: ben, display_name: 本}
schedules:
  - name: eu
    time_zone: Europe/Berlin
    rotations:
      - {people: [anna, ben], start: "2026-03-02T09:00:00", shift: 1w}
"""
BERLIN = ZoneInfo("Europe/Berlin")


async def test_the_feed_is_eight_weeks_of_shifts_read_by_an_icalendar_parser(relay_factory) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=BERLIN).timestamp()
    async with relay_factory(CONFIG, clock=FakeClock(now)) as relay:
        answer = await relay.client.get("/api/v1/schedules/eu.ics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/calendar")
        raw = answer.content
        missing = await relay.client.get("/api/v1/schedules/nope.ics")
        assert missing.status_code == 404 and "known: eu" in missing.text

    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))  # folded, in octets
    calendar = icalendar.Calendar.from_ical(raw)
    events = [c for c in calendar.walk() if c.name == "VEVENT"]
    assert len(events) == 9  # the shift in force, then eight more weekly hand-offs
    starts = [e.decoded("DTSTART").astimezone(BERLIN) for e in events]
    ends = [e.decoded("DTEND").astimezone(BERLIN) for e in events]
    # The shift in force began before the feed: it is shown whole from now on.
    assert starts[0] == datetime.fromtimestamp(now, BERLIN)
    # Every hand-off at 09:00 Berlin time, before and after the change on 29 March.
    assert all((s.hour, s.minute, s.weekday()) == (9, 0, 0) for s in starts[1:])
    assert all(a == b for a, b in zip(ends, starts[1:], strict=False))
    summer = next(i for i, s in enumerate(starts) if s.utcoffset() == timedelta(hours=2))
    # The week with 29 March is an hour short (same-zone datetimes subtract as wall times).
    assert ends[summer - 1].timestamp() - starts[summer - 1].timestamp() == 7 * 86400 - 3600
    people = [str(e["SUMMARY"]) for e in events]
    assert people[0] == "On call (eu): 本"  # the second week: ben
    assert people[1] == "On call (eu): Anna; the \\first, on call"  # escaped on the wire, read back whole
    assert len({str(e["UID"]) for e in events}) == 9
