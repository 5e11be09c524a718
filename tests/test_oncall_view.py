"""Who is on call, through GET /api/v1/oncall and `relay oncall`: the person now, since
and until when, the next hand-offs, overrides, and the errors a caller can make."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.cli.commands import main
from relay.config import parse_config
from relay.core.clock import FakeClock
from relay.core.schedules import shifts
from relay.pipeline.oncall import LOOK_AHEAD, LOOK_BACK, oncall_view
from tests.helpers.process import RelayProcess

CONFIG = """
global: {timezone: Asia/Shanghai}
route: {receiver: ops}
receivers: [{name: ops, log_configs: [{}]}]
people:
  - {name: zhangsan, display_name: 张三}
  - {name: lisi, display_name: 李四}
  - {name: wangwu}
schedules:
  - name: sre
    time_zone: Asia/Shanghai
    rotations:
      - {people: [zhangsan, lisi, wangwu], start: "2026-12-07T10:00:00", shift: 1w}
    overrides:
      - {person: lisi, start: "2026-12-24T10:00:00", end: "2026-12-26T10:00:00"}
  - name: empty-until-next-year
    time_zone: Europe/Berlin
    rotations:
      - {people: [wangwu], start: "2027-01-04T09:00:00", shift: 1d}
"""
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


async def test_the_api_says_who_is_on_call_and_who_is_next(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(at("2026-12-20T12:00:00"))) as relay:
        answer = (await relay.client.get("/api/v1/oncall")).json()
        sre, empty = answer["schedules"]
        assert sre["now"]["person"] == "lisi" and sre["now"]["display_name"] == "李四"
        assert sre["now"]["source"] == "rotation 1"
        assert sre["now"]["start"] == at("2026-12-14T10:00:00") and sre["now"]["end"] == at(
            "2026-12-21T10:00:00"
        )
        assert sre["now"]["end_local"] == "2026-12-21T10:00:00+08:00"
        assert [(s["person"], s["source"]) for s in sre["next"]] == [
            ("wangwu", "rotation 1"),
            ("lisi", "override by config"),
            ("wangwu", "rotation 1"),
        ]
        assert empty["now"]["person"] is None and empty["next"][0]["person"] == "wangwu"

        later = await relay.client.get(
            "/api/v1/oncall", params={"schedule": "sre", "at": "2026-12-25T12:00:00"}
        )
        assert [s["name"] for s in later.json()["schedules"]] == ["sre"]
        assert later.json()["schedules"][0]["now"]["source"] == "override by config"
        unix = await relay.client.get("/api/v1/oncall", params={"at": str(at("2026-12-08T00:00:00"))})
        assert unix.json()["schedules"][0]["now"]["person"] == "zhangsan"

        missing = await relay.client.get("/api/v1/oncall", params={"schedule": "nope"})
        assert missing.status_code == 404 and "known: sre" in missing.text
        bad = await relay.client.get("/api/v1/oncall", params={"at": "next tuesday"})
        assert bad.status_code == 400 and "ISO 8601" in bad.text


def test_relay_oncall_prints_the_person_and_the_hand_offs(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(CONFIG)
    result = CliRunner().invoke(
        main, ["oncall", "--config", str(path), "--schedule", "sre", "--at", "2026-12-20T12:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "sre (Asia/Shanghai): 李四 (lisi), rotation 1, 2026-12-14 10:00 to 2026-12-21 10:00",
        "  next: wangwu, rotation 1, 2026-12-21 10:00 to 2026-12-24 10:00",
        "  next: 李四 (lisi), override by config, 2026-12-24 10:00 to 2026-12-26 10:00",
        "  next: wangwu, rotation 1, 2026-12-26 10:00 to 2026-12-28 10:00",
    ]
    nobody = CliRunner().invoke(
        main,
        ["oncall", "--config", str(path), "--schedule", "empty-until-next-year", "--at", "2026-12-20T12:00"],
    )
    assert nobody.stdout.startswith(
        "empty-until-next-year (Europe/Berlin): nobody on call until 2027-01-04 09:00"
    )
    unknown = CliRunner().invoke(main, ["oncall", "--config", str(path), "--schedule", "nope"])
    assert unknown.exit_code == 2 and "known: sre" in unknown.output


async def test_an_override_made_through_the_api_wins_and_lasts_a_restart(relay_factory) -> None:
    clock = FakeClock(at("2026-12-20T12:00:00"))
    async with relay_factory(CONFIG, clock=clock) as relay:
        made = await relay.client.post(
            "/api/v1/schedules/sre/overrides",
            json={
                "person": "zhangsan",
                "start": "2026-12-20T18:00",
                "end": "2026-12-21T09:00",
                "comment": "swap",
            },
        )
        assert made.status_code == 201, made.text
        override = made.json()
        assert override["by"] == "anonymous" and override["start_local"] == "2026-12-20T18:00:00+08:00"
        for body, words in [
            (
                {"person": "nobody", "start": "2026-12-21T00:00", "end": "2026-12-22T00:00"},
                "person: expected one of",
            ),
            (
                {"person": "lisi", "start": "2026-12-22T00:00", "end": "2026-12-21T00:00"},
                "end: must be after start",
            ),
            ({"person": "lisi", "start": "2026-12-01T00:00", "end": "2026-12-02T00:00"}, "end: already past"),
            ({"person": "lisi", "start": "soon", "end": "2026-12-22T00:00"}, "start: expected unix seconds"),
            ({"person": "lisi", "start": "2026-12-21T00:00", "end": "2027-06-01T00:00"}, "at most 90 days"),
        ]:
            refused = await relay.client.post("/api/v1/schedules/sre/overrides", json=body)
            assert refused.status_code == 400 and words in refused.text, refused.text
        assert (await relay.client.post("/api/v1/schedules/nope/overrides", json={})).status_code == 404

    async with relay_factory(CONFIG, clock=clock) as relay:  # the same database, a new process
        clock.set(at("2026-12-20T20:00:00"))
        now = (await relay.client.get("/api/v1/oncall", params={"schedule": "sre"})).json()["schedules"][0][
            "now"
        ]
        assert (now["person"], now["source"]) == ("zhangsan", "override by anonymous")
        listed = (await relay.client.get("/api/v1/schedules/sre/overrides")).json()["overrides"]
        assert [(o["by"], o["person"]) for o in listed] == [("config", "lisi"), ("anonymous", "zhangsan")]
        feed = (await relay.client.get("/api/v1/schedules/sre.ics")).text
        assert "On call (sre): 张三" in feed
        gone = await relay.client.delete(f"/api/v1/schedules/sre/overrides/{override['id']}")
        assert gone.status_code == 200
        now = (await relay.client.get("/api/v1/oncall", params={"schedule": "sre"})).json()["schedules"][0][
            "now"
        ]
        assert now["person"] == "lisi"
        again = await relay.client.delete(f"/api/v1/schedules/sre/overrides/{override['id']}")
        assert again.status_code == 404


SHIFTS = ["90m", "5h", "1d", "1w", "2w"]


@settings(max_examples=40, deadline=None)
@given(
    shift=st.sampled_from(SHIFTS),
    people=st.integers(1, 3),
    start_day=st.integers(-200, 200),
    upcoming=st.integers(0, 4),
)
def test_the_view_agrees_with_the_whole_window(
    shift: str, people: int, start_day: int, upcoming: int
) -> None:
    """The view looks at short windows first (the console polls it): the same answer as
    computing the whole 90 days either side."""
    names = [f"p{i}" for i in range(people)]
    start = datetime(2026, 12, 20, 9, 30) + timedelta(days=start_day)
    config = parse_config(
        "route: {receiver: ops}\nreceivers: [{name: ops}]\n"
        f"people: [{', '.join('{name: ' + n + '}' for n in names)}]\n"
        "schedules:\n  - name: s\n    time_zone: Europe/Berlin\n"
        f"    rotations: [{{people: [{', '.join(names)}], start: '{start.isoformat()}', shift: {shift}}}]\n"
    )
    now = at("2026-12-20T12:00:00")
    (view,) = oncall_view(config, now, upcoming=upcoming)["schedules"]
    schedule = config.schedule("s")
    assert schedule is not None
    whole = shifts(schedule, now - LOOK_BACK, now + LOOK_AHEAD)
    index = next(i for i, s in enumerate(whole) if s.start <= now < s.end)
    expected_now = whole[index]
    assert view["now"]["person"] == expected_now.person
    assert view["now"]["start"] == (None if expected_now.start <= now - LOOK_BACK else expected_now.start)
    assert view["now"]["end"] == (None if expected_now.end >= now + LOOK_AHEAD else expected_now.end)
    expected_next = whole[index + 1 : index + 1 + upcoming]
    assert [(s["person"], s["start"]) for s in view["next"]] == [(s.person, s.start) for s in expected_next]


def test_relay_oncall_url_asks_a_running_relay_and_counts_its_overrides(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(f'storage: {{url: "sqlite:///{tmp_path}/r.db"}}\n' + CONFIG)
    relay = RelayProcess(path).start()
    try:
        # zhangsan covers the rest of the schedule's known future, through the API.
        made = httpx.post(
            f"{relay.url}/api/v1/schedules/sre/overrides",
            json={"person": "zhangsan", "start": time.time() - 60, "end": time.time() + 86400},
            timeout=10,
        )
        assert made.status_code == 201, made.text
        result = CliRunner().invoke(main, ["oncall", "--url", relay.url, "--schedule", "sre", "--next", "1"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].startswith("sre (Asia/Shanghai): 张三 (zhangsan), override by anonymous")
        assert len(lines) == 2
        bad = CliRunner().invoke(main, ["oncall", "--url", relay.url, "--schedule", "nope"])
        assert bad.exit_code == 1 and "unknown schedule 'nope'" in bad.output
        refused = httpx.get(f"{relay.url}/api/v1/oncall", params={"next": "99"}, timeout=10)
        assert refused.status_code == 400
    finally:
        relay.stop()


async def test_phone_numbers_are_masked_in_the_config_answer_and_page(relay_factory) -> None:
    config = CONFIG.replace(
        "  - {name: zhangsan, display_name: 张三}",
        '  - {name: zhangsan, display_name: 张三, phone: "+8613800000001", ids: {dingtalk: "13800000001"}}',
    )
    async with relay_factory(config) as relay:
        answer = (await relay.client.get("/api/v1/config")).text
        page = (await relay.client.get("/ui/config")).text
    for shown in (answer, page):
        assert "+86138****0001" in shown and "138****0001" in shown
        assert "13800000001" not in shown


async def test_the_numbers_a_voice_channel_calls_are_masked_too(relay_factory) -> None:
    phones = (
        "  - name: phones\n    tencent_voice_configs:\n"
        '      - {secret_id: AKIDexample, secret_key: key-never-shown-42, sdk_app_id: "1400000001",'
        ' template_id: "1234567", to: ["+8613912345678"]}\n'
    )
    config = CONFIG.replace(
        "receivers: [{name: ops, log_configs: [{}]}]\n",
        "receivers:\n  - {name: ops, log_configs: [{}]}\n" + phones,
    )
    async with relay_factory(config) as relay:
        answer = (await relay.client.get("/api/v1/config")).text
        page = (await relay.client.get("/ui/config")).text
    for shown in (answer, page):
        assert "+86139****5678" in shown
        assert "13912345678" not in shown and "key-never-shown-42" not in shown
