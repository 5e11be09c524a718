"""A schedule as an iCalendar feed (RFC 5545): one event per shift for the next weeks,
naming the person, so people see their shifts in their own calendar.

Times are written in UTC (``...Z``): every calendar shows them in its user's zone, and no
VTIMEZONE has to be derived from the IANA database. Text is escaped (``\\``, ``;``, ``,``,
newlines) and lines are folded at 75 octets, as the RFC asks.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from relay.config import Config
from relay.core.schedules import Schedule, shifts

#: The feed's length: the next eight weeks.
FEED_SECONDS = 8 * 7 * 86400.0


def ics_feed(config: Config, schedule: Schedule, now: float) -> str:
    """The feed of ``schedule`` from the shift in force at ``now`` for FEED_SECONDS."""
    stamp = _utc(now)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//relay//on call//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_text(f'On call: {schedule.name}')}",
        f"X-WR-TIMEZONE:{schedule.zone}",
    ]
    for shift in shifts(schedule, now, now + FEED_SECONDS):
        if shift.person is None:
            continue
        person = config.person(shift.person)
        shown = person.shown if person is not None else shift.person
        uid = hashlib.sha256(f"{schedule.name}|{shift.person}|{shift.start}".encode()).hexdigest()[:24]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}@relay",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_utc(shift.start)}",
            f"DTEND:{_utc(shift.end)}",
            f"SUMMARY:{_text(f'On call ({schedule.name}): {shown}')}",
            f"DESCRIPTION:{_text(f'{shown} ({shift.person}), {shift.source}.')}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space, never inside a
    UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    for char in line:
        width = len(char.encode("utf-8"))
        limit = 75 if not out else 74  # a continuation line starts with a space
        if size + width > limit:
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)
