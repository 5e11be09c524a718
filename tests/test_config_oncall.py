"""The people: and schedules: sections: a valid on-call config, and each mistake named at
its place."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from relay.config import InvalidConfig, parse_config
from relay.core.schedules import on_call

BASE = """
route: {receiver: ops}
receivers: [{name: ops}]
time_intervals:
  - name: weekends
    time_intervals: [{weekdays: [saturday, sunday], location: Asia/Shanghai}]
people:
  - name: zhangsan
    display_name: 张三
    email: zhangsan@example.com
    phone: "+8613800000001"
    ids: {wecom: ZhangSan, dingtalk: "13800000001", feishu: ou_7d8a6e6df76215, slack: U012AB3CD}
  - {name: lisi}
  - {name: wangwu}
  - {name: zhaoliu}
"""

SCHEDULES = """
schedules:
  - name: sre
    time_zone: Asia/Shanghai
    rotations:
      - people: [zhangsan, lisi, wangwu]
        start: "2026-12-07T10:00:00"
        shift: 1w
      - people: [zhaoliu]
        start: 2026-12-05T00:00:00
        shift: 1w
        active_time_intervals: [weekends]
    overrides:
      - {person: lisi, start: "2026-12-24T10:00:00", end: "2026-12-26T10:00:00"}
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def test_a_complete_on_call_config() -> None:
    config = parse_config(BASE + SCHEDULES)
    person = config.person("zhangsan")
    assert person is not None and person.shown == "张三" and person.ids["wecom"] == "ZhangSan"
    sre = config.schedule("sre")
    assert sre is not None
    assert on_call(sre, at("2026-12-08T12:00:00")) == ("zhangsan", "rotation 1")
    assert on_call(sre, at("2026-12-12T12:00:00")) == ("zhaoliu", "rotation 2")  # Saturday, unquoted start
    assert on_call(sre, at("2026-12-25T12:00:00")) == ("lisi", "override by config")
    assert config.schedule("nope") is None


@pytest.mark.parametrize(
    ("change", "place", "words"),
    [
        (
            ("[zhangsan, lisi, wangwu]", "[zhangsan, nobody]"),
            "schedules[0].rotations[0].people[1]",
            "unknown person 'nobody'",
        ),
        (
            ("[weekends]", "[holidays]"),
            "schedules[0].rotations[1].active_time_intervals[0]",
            "unknown time interval 'holidays'",
        ),
        (
            ("{person: lisi,", "{person: zhaoliu2,"),
            "schedules[0].overrides[0].person",
            "in none of this schedule's rotations",
        ),
        (("[zhangsan, lisi, wangwu]", "[]"), "schedules[0].rotations[0].people", "at least 1"),
        (("shift: 1w\n      - people", "shift: 0s\n      - people"), "schedules[0].rotations[0].shift", ""),
        (
            ("time_zone: Asia/Shanghai", "time_zone: Mars/Olympus"),
            "schedules[0].time_zone",
            "unknown time zone",
        ),
        (
            ('start: "2026-12-07T10:00:00"', 'start: "2026-12-07T10:00:00+08:00"'),
            "schedules[0].rotations[0].start",
            "UTC offset",
        ),
        (
            ('end: "2026-12-26T10:00:00"', 'end: "2026-12-23T10:00:00"'),
            "schedules[0].overrides[0]",
            "end must be after start",
        ),
        (('phone: "+8613800000001"', 'phone: "13800000001"'), "people[0].phone", "E.164"),
        (("slack: U012AB3CD", "skype: x"), "people[0].ids", "unknown channel 'skype'"),
        (("- {name: lisi}", "- {name: zhangsan}"), "people[1].name", "duplicate person 'zhangsan'"),
    ],
)
def test_each_mistake_is_named_at_its_place(change: tuple[str, str], place: str, words: str) -> None:
    text = (BASE + SCHEDULES).replace(*change, 1)
    assert text != BASE + SCHEDULES
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text)
    problems = "\n".join(caught.value.problems)
    assert place in problems and words in problems, problems


def test_overlapping_overrides_are_named() -> None:
    text = (
        BASE
        + SCHEDULES
        + '      - {person: wangwu, start: "2026-12-25T00:00:00", end: "2026-12-27T00:00:00"}\n'
    )
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text)
    assert "schedules[0].overrides[1]: overlaps overrides[0]" in "\n".join(caught.value.problems)


def test_the_example_in_docs_oncall_is_valid() -> None:
    """docs/oncall.md's complete example, as an operator would paste it."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "oncall.md").read_text(encoding="utf-8")
    example = re.search(r"## A complete example\s+```yaml\n(.*?)```", text, re.S)
    assert example is not None
    config = parse_config(example.group(1), env={"WECOM_ROBOT_KEY": "0123456789abcdef01234567"})
    assert [p.name for p in config.escalation_policies] == ["sre"]
    assert config.route.routes[0].escalation == "sre"
    sre = config.schedule("sre")
    assert sre is not None
    assert on_call(sre, at("2026-12-12T12:00:00"))[0] == "zhaoliu"  # a Saturday: the weekend layer
    assert on_call(sre, at("2026-12-25T12:00:00"))[0] == "lisi"  # the override
