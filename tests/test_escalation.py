"""Escalation on the fake clock: every step at its time with the person on call then;
acknowledged, resolved or exhausted, it stops; a new firing alert after an ack, or an
unack, starts it again; relay-side groups keep their own group_interval; the timeline
and the metrics say what happened."""

from __future__ import annotations

from typing import Any

import pytest

from relay.config import parse_config
from relay.core.clock import FakeClock
from relay.core.errors import ConfigError
from relay.core.jobs import Job
from tests.helpers.webhooks import alert, webhook

# 2027-01-15T07:58:00Z: the sre rotation hands off every full hour (UTC), lisi's hour
# (07:00-08:00, shift 943 since 2026-12-07T00:00) ends two minutes in.
T0 = 1_800_000_000.0 - 120

CONFIG = """
route:
  receiver: ops
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: ops
      escalation: sre
    - matchers: ['severity="grouped"']
      receiver: ops
      group_by: [alertname]
      group_wait: 30s
      group_interval: 10m
      escalation: sre
receivers:
  - {name: ops, log_configs: [{}]}
  - {name: managers, log_configs: [{}, {}]}
people:
  - {name: zhangsan, display_name: 张三}
  - {name: lisi, display_name: 李四}
  - {name: wangwu}
  - {name: manager, display_name: Boss}
schedules:
  - name: sre
    rotations: [{people: [zhangsan, lisi], start: "2026-12-07T00:00:00", shift: 1h}]
  - name: sre-secondary
    rotations: [{people: [wangwu], start: "2026-12-07T00:00:00", shift: 1w}]
escalation_policies:
  - name: sre
    steps:
      - targets: [schedule:sre]
      - after: 5m
        targets: [schedule:sre]
      - after: 15m
        targets: [schedule:sre-secondary, person:manager]
        receiver: managers
    repeat: 1
"""


def critical(name: str = "DiskFull", **labels: str) -> dict[str, Any]:
    return alert(name, severity="critical", **labels)


GROUP = '{}:{alertname="DiskFull"}'


class Watch:
    """The jobs a relay queued since the last look."""

    def __init__(self, relay: Any) -> None:
        self.relay = relay
        self.seen: set[str] = set()

    async def new(self) -> list[Job]:
        jobs = [j for j in await self.relay.jobs() if j.id not in self.seen]
        self.seen |= {j.id for j in jobs}
        return jobs

    async def tick(self, seconds: float) -> list[Job]:
        self.relay.clock.advance(seconds)
        await self.relay.state.flush_due()
        return await self.new()


def paged(job: Job) -> tuple[str, str, int | None, list[str]]:
    """(integration, reason, step, people) of a queued notification."""
    escalation = job.payload.get("escalation") or {}
    people = [p for t in escalation.get("targets", []) for p in t["people"]]
    return job.integration, job.payload["reason"], escalation.get("step"), people


async def test_every_step_fires_at_its_time_with_whoever_is_on_call_then(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        assert (await relay.post(webhook(critical(), group_key=GROUP))).status_code == 200
        # Step 1 rides on the first notification: lisi is on call until 08:00.
        assert [paged(j) for j in await watch.new()] == [("ops/log/0", "new_alerts", 1, ["lisi"])]
        assert await watch.tick(299) == []
        # Step 2 at 5m (08:03): the hour changed hands, zhangsan is paged.
        assert [paged(j) for j in await watch.tick(1)] == [("ops/log/0", "escalation", 2, ["zhangsan"])]
        assert await watch.tick(599) == []
        # Step 3 at 15m, through the managers receiver (both of its integrations).
        third = await watch.tick(1)
        assert sorted(paged(j) for j in third) == [
            ("managers/log/0", "escalation", 3, ["wangwu", "manager"]),
            ("managers/log/1", "escalation", 3, ["wangwu", "manager"]),
        ]
        assert third[0].payload["escalation"]["names"] == {"wangwu": "wangwu", "manager": "Boss"}
        # repeat: 1 runs the steps again, 15m (the round's length) after the last one.
        assert await watch.tick(899) == []
        again = await watch.tick(1)
        assert [(paged(j)[2], j.payload["escalation"]["round"]) for j in again] == [(1, 2)]
        assert [paged(j)[2] for j in await watch.tick(300)] == [2]
        assert len(await watch.tick(600)) == 2
        # Every step of both rounds fired: nothing more, ever, until an ack or a resolve.
        assert await watch.tick(6 * 3600) == []
        metrics = relay.state.metrics.escalation_steps
        assert {s: metrics.labels("sre", str(s))._value.get() for s in (1, 2, 3)} == {1: 2, 2: 2, 3: 2}


async def test_an_ack_after_the_first_step_stops_the_second(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        await relay.post(webhook(critical(), group_key=GROUP))
        assert len(await watch.new()) == 1
        relay.clock.advance(60)
        key = (await relay.client.get("/api/v1/groups")).json()["groups"][0]["key"]
        acked = await relay.client.post(f"/api/v1/groups/{key}/ack", json={"by": "lisi"})
        assert acked.status_code == 200
        assert await watch.tick(3600) == []
        group = (await relay.client.get(f"/api/v1/groups/{key}")).json()
        events = [e["event"] for e in group["timeline"]]
        assert events == [
            "firing",
            "escalation_started",
            "escalated",
            "notified",
            "acknowledged",
            "escalation_stopped",
        ]
        assert group["timeline"][4]["by"] == "lisi" and group["timeline"][4]["via"] == "api"
        # Time to acknowledge: a minute after it fired.
        tta = relay.state.metrics.time_to_acknowledge.labels("ops")
        assert tta._sum.get() == 60


async def test_resolved_stops_the_escalation(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        await relay.post(webhook(critical(), group_key=GROUP))
        await watch.new()
        relay.clock.advance(120)
        await relay.post(webhook(critical(status="resolved"), group_key=GROUP))
        assert [j.payload["status"] for j in await watch.new()] == ["resolved"]
        assert await watch.tick(3600) == []
        key = (await relay.client.get("/api/v1/groups")).json()["groups"][0]["key"]
        timeline = (await relay.client.get(f"/api/v1/groups/{key}")).json()["timeline"]
        assert [e["event"] for e in timeline][-3:] == ["resolved", "escalation_stopped", "notified"]
        assert any(e["event"] == "escalation_stopped" and e["reason"] == "resolved" for e in timeline)


async def test_a_new_firing_alert_after_an_ack_starts_the_policy_again(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        await relay.post(webhook(critical(), group_key=GROUP))
        await watch.new()
        key = (await relay.client.get("/api/v1/groups")).json()["groups"][0]["key"]
        await relay.client.post(f"/api/v1/groups/{key}/ack", json={"by": "lisi"})
        assert await watch.tick(600) == []
        # Another disk fills up: the ack is lifted and step 1 rides on that notification
        # (zhangsan now: it is 08:08).
        both = webhook(critical(), critical(instance="node-2:9100"), group_key=GROUP)
        await relay.post(both)
        assert [paged(j) for j in await watch.new()] == [("ops/log/0", "new_alerts", 1, ["zhangsan"])]
        assert [paged(j)[2] for j in await watch.tick(300)] == [2]


async def test_unack_starts_the_policy_again_at_once(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        await relay.post(webhook(critical(), group_key=GROUP))
        await watch.new()
        key = (await relay.client.get("/api/v1/groups")).json()["groups"][0]["key"]
        await relay.client.post(f"/api/v1/groups/{key}/ack")
        assert await watch.tick(600) == []
        await relay.client.post(f"/api/v1/groups/{key}/unack")
        assert [paged(j) for j in await watch.tick(0)] == [("ops/log/0", "escalation", 1, ["zhangsan"])]
        assert [paged(j)[2] for j in await watch.tick(300)] == [2]


async def test_a_relay_side_group_escalates_from_its_first_flush_and_keeps_its_interval(
    relay_factory,
) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        await relay.post(webhook(alert("Grouped", severity="grouped")))
        assert await watch.new() == []
        first = await watch.tick(30)  # group_wait
        assert [paged(j) for j in first] == [("ops/log/0", "new_alerts", 1, ["lisi"])]
        group = (await relay.client.get("/api/v1/groups")).json()["groups"][0]
        # A new alert at 2m waits for the group's own interval (10m after its first
        # flush), not for the escalation's next step (5m).
        relay.clock.advance(120)
        await relay.post(webhook(alert("Grouped", instance="node-2:9100", severity="grouped")))
        step_two = await watch.tick(180)  # 5m after the first flush
        assert [paged(j) for j in step_two] == [("ops/log/0", "escalation", 2, ["zhangsan"])]
        assert len(step_two[0].payload["alerts"]) == 2  # the group's current message
        assert await watch.tick(299) == []
        flushed = await watch.tick(1)  # 10m after the first flush: the group's interval
        assert [paged(j)[:2] for j in flushed] == [("ops/log/0", "new_alerts")]
        assert group["next_flush_at"] is not None


async def test_a_schedule_with_nobody_on_call_says_so(relay_factory) -> None:
    config = CONFIG.replace(
        '[{people: [wangwu], start: "2026-12-07T00:00:00", shift: 1w}]',
        '[{people: [wangwu], start: "2030-01-01T00:00:00", shift: 1w}]',
    )
    async with relay_factory(config, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        await relay.post(webhook(critical(), group_key=GROUP))
        await watch.new()
        third = [j for j in await watch.tick(900) if paged(j)[2] == 3]
        assert len(third) == 2 and {paged(j)[3] == ["manager"] for j in third} == {True}
        escalation = third[0].payload["escalation"]
        assert escalation["targets"][0] == {"target": "schedule:sre-secondary", "people": []}
        key = third[0].group_key
        timeline = (await relay.client.get("/api/v1/groups")).json()["groups"]
        assert timeline
        group = await relay.state.store.get_group(key)
        assert group is not None
        assert group.timeline[-3]["nobody"] == ["schedule:sre-secondary"]


async def test_a_reload_that_changes_the_policy_applies_to_the_next_step(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        watch = Watch(relay)
        await relay.post(webhook(critical(), group_key=GROUP))
        await watch.new()
        step = "after: 5m\n        targets: [schedule:sre]"
        changed = CONFIG.replace(step, "after: 2m\n        targets: [person:manager]")
        assert changed != CONFIG
        assert await relay.state.reload(parse_config(changed, env={})) is None
        assert [paged(j) for j in await watch.tick(120)] == [("ops/log/0", "escalation", 2, ["manager"])]
        # Policy taken off the route: the escalation stops.
        grouped = "    - matchers: ['severity=\"grouped\"']"
        removed = changed.replace("      escalation: sre\n" + grouped, grouped)
        assert removed != changed
        assert await relay.state.reload(parse_config(removed, env={})) is None
        await relay.post(webhook(critical(), group_key=GROUP))
        assert await watch.tick(3600) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("targets: [schedule:sre-secondary, person:manager]", "unknown person 'boss'"),
        ("- targets: [schedule:sre]", "unknown schedule 'nightshift'"),
        ("after: 15m", "is not later than steps[1].after (5m)"),
        ("receiver: managers", "unknown receiver 'nobody'"),
        ("escalation: sre\n    - matchers", "unknown escalation policy 'sr'"),
        ("targets: [schedule:sre]\n      - after: 15m", "a target is schedule:<name>"),
    ],
)
def test_config_errors_name_their_place(change: str, message: str) -> None:
    broken = {
        "targets: [schedule:sre-secondary, person:manager]": "targets: [schedule:sre-secondary, person:boss]",
        "- targets: [schedule:sre]": "- targets: [schedule:nightshift]",
        "after: 15m": "after: 4m",
        "receiver: managers": "receiver: nobody",
        "escalation: sre\n    - matchers": "escalation: sr\n    - matchers",
        "targets: [schedule:sre]\n      - after: 15m": "targets: [sre]\n      - after: 15m",
    }[change]
    text = CONFIG.replace(change, broken, 1)
    assert text != CONFIG
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    shown = "\n".join(caught.value.problems)
    assert message in shown
    assert "escalation_policies[0].steps[" in shown or "route.routes[0].escalation" in shown


def test_an_escalation_through_a_receiver_that_sends_nowhere_is_refused() -> None:
    text = CONFIG.replace("- {name: ops, log_configs: [{}]}", "- {name: ops}")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert "route.routes[0].escalation: receiver 'ops' has no integrations" in "\n".join(
        caught.value.problems
    )
    text = CONFIG.replace("- {name: managers, log_configs: [{}, {}]}", "- {name: managers}")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert "escalation_policies[0].steps[2].receiver: receiver 'managers' has no integrations" in "\n".join(
        caught.value.problems
    )


def test_routes_test_shows_the_policy_and_whom_each_step_pages(tmp_path) -> None:
    from click.testing import CliRunner

    from relay.cli.commands import main

    path = tmp_path / "relay.yml"
    path.write_text(CONFIG, encoding="utf-8")
    # 2027-01-15T07:30Z: lisi's hour.
    result = CliRunner().invoke(
        main, ["routes", "test", "--config", str(path), "--at", "2027-01-15T07:30+00:00", "severity=critical"]
    )
    assert result.exit_code == 0, result.output
    assert "escalation sre (until acknowledged or resolved):" in result.output
    assert "step 1 after 0s via ops: schedule:sre (李四)" in result.output
    assert (
        "step 3 after 15m via managers: schedule:sre-secondary (wangwu), person:manager (Boss)"
        in result.output
    )
    assert "then the steps again 1 more time(s), 15m after the last step" in result.output


async def test_whom_a_step_pages_matches_the_oncall_api_over_random_swaps(relay_factory) -> None:
    """The resolver steps use (schedules built once per set of overrides, the overrides
    as last read) against GET /api/v1/oncall, which reads the store every time."""
    import random

    rng = random.Random(21)
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        made: list[str] = []
        created = 0
        for _ in range(60):
            action = rng.random()
            if action < 0.4:
                start = relay.clock.now() + rng.randint(-3600, 3600)
                body = {
                    "person": rng.choice(["zhangsan", "lisi"]),
                    "start": start,
                    "end": start + rng.randint(60, 4 * 3600),
                }
                answer = await relay.client.post("/api/v1/schedules/sre/overrides", json=body)
                if answer.status_code == 201:
                    made.append(answer.json()["id"])
                    created += 1
            elif action < 0.6 and made:
                gone = made.pop(rng.randrange(len(made)))
                assert (
                    await relay.client.delete(f"/api/v1/schedules/sre/overrides/{gone}")
                ).status_code == 200
            else:
                relay.clock.advance(rng.randint(1, 5400))
            await relay.state.flush_due()  # reads the overrides, as every tick does
            now = relay.clock.now()
            resolve = relay.state.runtime.on_call_at(now, relay.state.overrides)
            view = (await relay.client.get("/api/v1/oncall", params={"at": str(now)})).json()
            for schedule in view["schedules"]:
                expected = schedule["now"]["person"]
                assert resolve(f"schedule:{schedule['name']}") == ((expected,) if expected else ())
        assert created >= 10
