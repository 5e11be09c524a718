"""Heartbeats on the fake clock: beats are consumed and recorded; a missing heartbeat
raises one HeartbeatMissing notification through its receiver, however often relay
checks; beats coming back resolve it; a relay that was itself down waits a grace
before paging; the API, the overview and the metric say what the store says."""

from __future__ import annotations

from typing import Any

import pytest

from relay.config import parse_config
from relay.core.clock import FakeClock
from relay.core.errors import ConfigError
from relay.core.jobs import Job
from tests.helpers.webhooks import alert, webhook

T0 = 1_800_000_000.0

CONFIG = """
route:
  receiver: team
  repeat_interval: 4h
receivers:
  - {name: team, log_configs: [{}]}
  - {name: oncall, log_configs: [{send_resolved: true}]}
heartbeats:
  - name: prometheus-watchdog
    matchers: ['alertname="Watchdog"']
    interval: 1m
    grace: 5m
    receiver: oncall
"""


def watchdog(status: str = "firing") -> dict[str, Any]:
    return webhook(alert("Watchdog", severity="none", status=status), group_key='{}:{alertname="Watchdog"}')


async def new_jobs(relay: Any, seen: set[str]) -> list[Job]:
    jobs = [j for j in await relay.jobs() if j.id not in seen]
    seen |= {j.id for j in jobs}
    return jobs


def missing(job: Job) -> bool:
    return any(a["labels"].get("alertname") == "HeartbeatMissing" for a in job.payload["alerts"])


async def run(relay: Any, seconds: float, step: float = 1.0) -> None:
    """The clock moves ``seconds``, relay checking its heartbeats every ``step``."""
    left = seconds
    while left > 0:
        relay.clock.advance(min(step, left))
        left -= step
        await relay.state.check_heartbeats()


async def test_a_beat_is_recorded_and_not_sent_on(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        answer = await relay.post(watchdog())
        assert answer.status_code == 200
        assert answer.json()["heartbeats"] == ["prometheus-watchdog"]
        assert answer.json()["notifications"] == 0
        assert await relay.jobs() == []
        gauge = relay.state.metrics.heartbeat_last_seen.labels("prometheus-watchdog")
        assert gauge._value.get() == T0
        # Another alert in the same webhook is routed as usual.
        both = webhook(alert("Watchdog"), alert("DiskFull"))
        assert (await relay.post(both)).json()["notifications"] == 1
        [job] = await relay.jobs()
        assert [a["labels"]["alertname"] for a in job.payload["alerts"]] == ["DiskFull"]


async def test_forward_routes_the_beat_too(relay_factory) -> None:
    config = CONFIG + "    forward: true\n"
    async with relay_factory(config, clock=FakeClock(T0)) as relay:
        answer = (await relay.post(watchdog())).json()
        assert answer["heartbeats"] == ["prometheus-watchdog"]
        assert answer["notifications"] == 1


async def test_a_missing_heartbeat_pages_once_then_resolves_when_beats_return(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        seen: set[str] = set()
        await relay.post(watchdog())
        # Beats every minute for ten minutes: nothing.
        for _ in range(10):
            await run(relay, 60, step=5)
            await relay.post(watchdog())
        assert await new_jobs(relay, seen) == []
        last_beat = relay.clock.now()
        # Silent: nothing until grace has passed, then exactly one page, however often
        # relay checks afterwards.
        await run(relay, 299, step=1)
        assert await new_jobs(relay, seen) == []
        await run(relay, 2, step=1)
        [page] = await new_jobs(relay, seen)
        assert page.receiver == "oncall" and page.payload["status"] == "firing"
        [raised] = page.payload["alerts"]
        assert raised["labels"] == {
            "alertname": "HeartbeatMissing",
            "heartbeat": "prometheus-watchdog",
            "severity": "critical",
        }
        assert "No heartbeat from prometheus-watchdog for 5m" in raised["annotations"]["summary"]
        assert raised["startsAt"].startswith("2027-01-15T08:")  # last beat + grace
        await run(relay, 3600, step=10)
        assert await new_jobs(relay, seen) == []
        view = (await relay.client.get("/api/v1/heartbeats")).json()["heartbeats"][0]
        assert view["state"] == "missing"
        assert view["last_beat"] == last_beat
        assert view["missing_since"] == pytest.approx(last_beat + 300)
        # A beat comes back: one resolved notification, and the state is healthy again.
        await relay.post(watchdog())
        await run(relay, 5, step=1)
        [resolved] = await new_jobs(relay, seen)
        assert resolved.payload["status"] == "resolved"
        assert resolved.payload["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        await run(relay, 50, step=1)
        assert await new_jobs(relay, seen) == []
        view = (await relay.client.get("/api/v1/heartbeats")).json()["heartbeats"][0]
        assert view["state"] == "healthy" and view["missing_since"] is None
        # Silent again: a new page (a new incident).
        await run(relay, 400, step=5)
        [again] = await new_jobs(relay, seen)
        assert again.payload["status"] == "firing"


async def test_a_resolved_watchdog_is_consumed_but_is_no_beat(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        seen: set[str] = set()
        await relay.post(watchdog())
        await run(relay, 120, step=10)
        # Alertmanager resolves the Watchdog when Prometheus stops sending it.
        answer = (await relay.post(watchdog("resolved"))).json()
        assert "heartbeats" not in answer and answer["notifications"] == 0
        await run(relay, 190, step=10)
        [page] = await new_jobs(relay, seen)
        assert missing(page)


async def test_a_heartbeat_that_never_beat_pages_a_grace_after_it_was_configured(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        seen: set[str] = set()
        await run(relay, 1)
        view = (await relay.client.get("/api/v1/heartbeats")).json()["heartbeats"][0]
        assert view["state"] == "waiting" and view["last_beat"] is None
        await run(relay, 298)
        assert await new_jobs(relay, seen) == []
        await run(relay, 3)
        [page] = await new_jobs(relay, seen)
        assert (
            "none has arrived since it was configured"
            in page.payload["alerts"][0]["annotations"]["description"]
        )


async def test_a_restarted_relay_waits_a_grace_before_paging(relay_factory, tmp_path) -> None:
    clock = FakeClock(T0)
    async with relay_factory(CONFIG, clock=clock) as relay:
        await relay.post(watchdog())
        await run(relay, 30)
    # relay was down for an hour (so were the beats' deliveries): the same store, a new
    # process. Beats resume within a minute: no page.
    clock.advance(3600)
    async with relay_factory(CONFIG, clock=clock) as relay:
        seen: set[str] = set()
        for _ in range(10):
            await run(relay, 60, step=1)
            await relay.post(watchdog())
        assert await new_jobs(relay, seen) == []
    # Down again; this time no beat comes after the restart: a page a grace after start.
    clock.advance(3600)
    async with relay_factory(CONFIG, clock=clock) as relay:
        seen = set()
        await run(relay, 299, step=1)
        assert await new_jobs(relay, seen) == []
        await run(relay, 2, step=1)
        assert [missing(j) for j in await new_jobs(relay, seen)] == [True]


async def test_the_heartbeats_escalation_and_repeat_interval(relay_factory) -> None:
    config = """
    route: {receiver: team}
    receivers:
      - {name: team, log_configs: [{}]}
      - {name: oncall, log_configs: [{}]}
    people: [{name: zhangsan}]
    escalation_policies:
      - name: sre
        steps: [{targets: [person:zhangsan]}, {after: 5m, targets: [person:zhangsan]}]
    heartbeats:
      - {name: wd, matchers: ['alertname="Watchdog"'], interval: 30s, grace: 2m,
         receiver: oncall, escalation: sre, repeat_interval: 1h, labels: {severity: page, team: sre}}
    """
    async with relay_factory(config, clock=FakeClock(T0)) as relay:
        seen: set[str] = set()
        await relay.post(watchdog())
        await run(relay, 125, step=1)
        [page] = await new_jobs(relay, seen)
        assert page.payload["escalation"]["step"] == 1
        assert page.payload["alerts"][0]["labels"]["team"] == "sre"
        relay.clock.advance(300)
        await relay.flush()
        [step2] = await new_jobs(relay, seen)
        assert step2.payload["reason"] == "escalation" and step2.payload["escalation"]["step"] == 2
        relay.clock.advance(3600)
        await relay.state.check_heartbeats()
        await relay.flush()
        # The heartbeat's own repeat_interval: the page is repeated after an hour.
        await relay.post(webhook(alert("Other")))  # a webhook does not disturb it
        await run(relay, 1)
        assert any(
            j.payload["reason"] == "repeat" for j in await new_jobs(relay, seen) if j.receiver == "oncall"
        )


async def test_the_overview_lists_heartbeats(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        await relay.post(watchdog())
        overview = (await relay.client.get("/api/v1/overview")).json()
        [beat] = overview["heartbeats"]
        assert beat["name"] == "prometheus-watchdog" and beat["state"] == "healthy"
        assert beat["matchers"] == ['alertname="Watchdog"'] and beat["receiver"] == "oncall"
        relay.clock.advance(100)
        assert (await relay.client.get("/api/v1/heartbeats")).json()["heartbeats"][0]["state"] == "late"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{name: wd, matchers: ['a=\"b\"'], receiver: nobody}",
            "heartbeats[0].receiver: unknown receiver 'nobody'",
        ),
        ("{name: wd, matchers: ['a=~\"(\"'], receiver: team}", "heartbeats[0].matchers[0]:"),
        ("{name: wd, matchers: [], receiver: team}", "heartbeats[0].matchers:"),
        (
            "{name: wd, matchers: ['a=\"b\"'], receiver: team, interval: 5m, grace: 1m}",
            "grace (1m) is shorter than interval (5m)",
        ),
        ("{name: 'my beat', matchers: ['a=\"b\"'], receiver: team}", "heartbeats[0].name:"),
        (
            "{name: wd, matchers: ['a=\"b\"'], receiver: team, escalation: nope}",
            "heartbeats[0].escalation: unknown escalation policy 'nope'",
        ),
        (
            "{name: wd, matchers: ['a=\"b\"'], receiver: team, labels: {alertname: X}}",
            "'alertname' is set by relay",
        ),
    ],
)
def test_config_errors_name_the_place(entry: str, expected: str) -> None:
    head = "route: {receiver: team}\nreceivers: [{name: team, log_configs: [{}]}]\n"
    text = f"{head}heartbeats:\n  - {entry}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_duplicate_names_are_refused() -> None:
    text = """
route: {receiver: team}
receivers: [{name: team, log_configs: [{}]}]
heartbeats:
  - {name: wd, matchers: ['a="b"'], receiver: team}
  - {name: wd, matchers: ['a="c"'], receiver: team}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert (
        "heartbeats[1].name: duplicate heartbeat name 'wd' (first at heartbeats[0])" in caught.value.problems
    )


async def test_the_console_overview_shows_each_heartbeat_in_both_languages(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        await relay.post(watchdog())
        page = (await relay.client.get("/ui/", params={"lang": "en"})).text
        assert 'data-heartbeat="prometheus-watchdog"' in page and ">healthy<" in page
        assert "every 1m, pages oncall after 5m" in page
        await run(relay, 400, step=10)
        page = (await relay.client.get("/ui/", params={"lang": "zh-CN"})).text
        assert ">中断<" in page and "中断始于" in page
        assert "/ui/group?key=oncall%7Cheartbeat%3Aprometheus-watchdog" in page


async def test_the_alert_is_in_chinese_with_a_chinese_locale(relay_factory) -> None:
    async with relay_factory("global: {locale: zh-CN}\n" + CONFIG, clock=FakeClock(T0)) as relay:
        await relay.post(watchdog())
        await run(relay, 301, step=10)
        [page] = await relay.jobs()
        annotations = page.payload["alerts"][0]["annotations"]
        assert annotations["summary"].startswith("心跳 prometheus-watchdog 已中断：5m 内没有收到")
        assert "最后一次在" in annotations["description"]
