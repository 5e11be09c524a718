"""The SQLite store's two shortcuts against its writer's own path.

SQLiteGroups plans each group transition on the event loop, on the state it believes is
stored (the writer checks that and computes the transition itself when it was wrong),
and decides a webhook that changes nothing against the state it last committed, without
its writer at all. Two relays take the same random sequences of webhooks (HA copies,
re-sends, new and resolved alerts), clock moves, acknowledgements, deliveries, prunes
and a forgotten cache (the first relay's belief turns wrong): one as it runs, one with
both shortcuts off. Every answer, every group's state and every job must be the same.
"""

from __future__ import annotations

import random
import textwrap
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.config import parse_config
from relay.core.clock import FakeClock
from relay.obs.metrics import Metrics
from relay.store.sqlite import SQLiteStore
from relay.store.sqlite import connection as sqlite_connection
from relay.store.sqlite import groups as sqlite_groups
from relay.web.service import create_app
from tests.conftest import Relay
from tests.helpers.webhooks import alert, webhook

CONFIG = """
route:
  receiver: team
  repeat_interval: 1h
receivers:
  - name: team
    log_configs:
      - {level: debug}
      - {level: debug, send_resolved: false}
"""
GROUPS = ["a", "b", "c"]
INSTANCES = ["n1", "n2", "n3"]


@asynccontextmanager
async def relay_at(path: Path, clock: FakeClock, shortcuts: bool) -> AsyncIterator[Relay]:
    store = SQLiteStore.from_url(f"sqlite:///{path}")
    if not shortcuts:  # every transition computed by the writer, on what it reads
        store._planned = lambda updates: [None] * len(updates)  # type: ignore[method-assign]
        store._unchanged = lambda updates, plans: None  # type: ignore[method-assign]
    config = parse_config(textwrap.dedent(CONFIG), env={})
    app = create_app(config, store=store, clock=clock, metrics=Metrics(), background=False)
    async with app.state.relay.running(background=False):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
            yield Relay(app, app.state.relay, clock, client)


def random_webhook(rng: random.Random) -> dict[str, Any]:
    group = rng.choice(GROUPS)
    alerts = [
        alert(name=f"Group{group}", instance=instance, status=rng.choice(["firing", "firing", "resolved"]))
        for instance in rng.sample(INSTANCES, rng.randint(1, len(INSTANCES)))
    ]
    body = webhook(*alerts, group_key=f'{{}}:{{alertname="Group{group}"}}')
    body["externalURL"] = rng.choice(["http://am-1:9093", "http://am-2:9093"])  # an HA pair
    return body


def jobs_seen(jobs: list[Any]) -> list[tuple[Any, ...]]:
    return [(j.integration, j.group_key, j.status, j.created_at, j.payload) for j in jobs]


async def groups_seen(relay: Relay) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for group in GROUPS:
        key = f'team|{{}}:{{alertname="Group{group}"}}'
        state = await relay.state.store.get_group(key)
        seen[key] = state.to_dict() if state is not None else None
    return seen


async def test_the_shortcuts_decide_as_the_writer_does(tmp_path: Path) -> None:
    taken = used = missed = 0
    for seed in range(20):
        rng = random.Random(seed)
        clock_fast, clock_slow = FakeClock(), FakeClock()
        fast_path, slow_path = tmp_path / f"fast-{seed}.db", tmp_path / f"slow-{seed}.db"
        async with (
            relay_at(fast_path, clock_fast, shortcuts=True) as fast,
            relay_at(slow_path, clock_slow, shortcuts=False) as slow,
        ):
            store = fast.state.store
            assert isinstance(store, SQLiteStore)
            unchanged = store._unchanged

            def counting(updates: Any, plans: Any, unchanged: Any = unchanged) -> Any:
                nonlocal taken
                found = unchanged(updates, plans)
                taken += found is not None
                return found

            store._unchanged = counting  # type: ignore[method-assign]
            last: dict[str, Any] | None = None
            for step in range(60):
                roll = rng.random()
                if roll < 0.55 or last is None:
                    last = random_webhook(rng)
                    body = last
                elif roll < 0.75:
                    body = last  # sent again: Alertmanager's re-send, the pair's copy
                elif roll < 0.85:
                    seconds = rng.choice([1, 60, 1800, 3601, 4 * 3600])
                    clock_fast.advance(seconds)
                    clock_slow.advance(seconds)
                    continue
                elif roll < 0.89:
                    key = urllib.parse.quote(f'team|{{}}:{{alertname="Group{rng.choice(GROUPS)}"}}', safe="")
                    path = f"/api/v1/groups/{key}/ack"
                    answers = [await relay.client.post(path, json={}) for relay in (fast, slow)]
                    assert [a.status_code for a in answers] == [answers[1].status_code] * 2, (seed, step)
                    continue
                elif roll < 0.93:
                    assert await fast.deliver_all() == await slow.deliver_all(), (seed, step)
                    continue
                elif roll < 0.95:
                    store._committed_groups.clear()  # believed absent, yet stored: plans miss
                    continue
                else:
                    now = clock_fast.now()
                    pruned = [await r.state.store.prune(now, 60, 60) for r in (fast, slow)]
                    assert pruned[0] == pruned[1], (seed, step)
                    continue
                answers = [await relay.post(body) for relay in (fast, slow)]
                assert answers[0].status_code == answers[1].status_code == 200, (seed, step)
                assert answers[0].json() == answers[1].json(), (seed, step)
            assert await groups_seen(fast) == await groups_seen(slow), seed
            assert jobs_seen(await fast.jobs()) == jobs_seen(await slow.jobs()), seed
            missed += store.plans_missed
            used += store.plans_used
    assert taken > 50  # the sequences did reach the unchanged path
    assert used > 200  # plans the writer used
    assert missed > 20  # and plans it could not use


async def test_a_pruned_group_is_decided_from_the_file(tmp_path: Path) -> None:
    """A group forgotten by prune comes back as new on both paths (all its alerts
    resolved, delivered, quiet past the retention; then the same webhook again)."""
    clocks = FakeClock(), FakeClock()
    async with (
        relay_at(tmp_path / "fast.db", clocks[0], shortcuts=True) as fast,
        relay_at(tmp_path / "slow.db", clocks[1], shortcuts=False) as slow,
    ):
        resolved = webhook(alert(name="Groupa", status="resolved"), group_key='{}:{alertname="Groupa"}')
        firing = webhook(alert(name="Groupa"), group_key='{}:{alertname="Groupa"}')
        answers: list[list[Any]] = [[], []]
        for index, relay in enumerate((fast, slow)):
            for body in (firing, resolved, resolved):
                answers[index].append((await relay.post(body)).json())
            await relay.deliver_all()
            clocks[index].advance(7200)
            assert await relay.state.store.prune(clocks[index].now(), 60, 60) > 0
            answers[index].append((await relay.post(resolved)).json())
        assert answers[0] == answers[1]
        assert await groups_seen(fast) == await groups_seen(slow)


async def test_a_group_is_planned_on_a_guess_only_while_every_group_is_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group the store does not hold in memory is planned as new only while it holds
    every group of the file (from open, up to COMMITTED_GROUPS_KEPT); once one is evicted
    such a group is left to the writer, so no transition is computed twice on a guess."""
    monkeypatch.setattr(sqlite_connection, "COMMITTED_GROUPS_KEPT", 2)
    monkeypatch.setattr(sqlite_groups, "COMMITTED_GROUPS_KEPT", 2)

    def new_group(name: str) -> dict[str, Any]:
        return webhook(alert(name=name), group_key=f'{{}}:{{alertname="{name}"}}')

    path = tmp_path / "relay.db"
    async with relay_at(path, FakeClock(), shortcuts=True) as relay:
        store = relay.state.store
        assert isinstance(store, SQLiteStore)
        assert store._groups_complete  # an empty file: every group is in memory
        for name in ("g1", "g2"):
            assert (await relay.post(new_group(name))).status_code == 200
        assert (store.plans_used, store.plans_missed, store._groups_complete) == (2, 0, True)
        assert (await relay.post(new_group("g3"))).status_code == 200  # g1 is evicted
        assert (store.plans_used, store._groups_complete) == (3, False)
        assert (await relay.post(new_group("g1"))).status_code == 200  # stored, not in memory
        assert (await relay.post(new_group("g4"))).status_code == 200
        assert (store.plans_used, store.plans_missed) == (3, 0)  # both left to the writer
    async with relay_at(path, FakeClock(), shortcuts=True) as relay:
        store = relay.state.store
        assert isinstance(store, SQLiteStore)
        assert not store._groups_complete  # four groups in the file, two kept
    monkeypatch.setattr(sqlite_connection, "COMMITTED_GROUPS_KEPT", 10)
    monkeypatch.setattr(sqlite_groups, "COMMITTED_GROUPS_KEPT", 10)
    async with relay_at(path, FakeClock(), shortcuts=True) as relay:
        store = relay.state.store
        assert isinstance(store, SQLiteStore)
        assert store._groups_complete and len(store._committed_groups) == 4  # read at open
        answer = await relay.post(new_group("g1"))  # a re-send, decided from memory
        assert answer.status_code == 200 and answer.json()["notifications"] == 0
        assert (await relay.post(new_group("g5"))).status_code == 200
        assert (store.plans_used, store.plans_missed) == (1, 0)


async def test_prune_keeps_every_group_in_memory_but_the_ones_it_deleted(tmp_path: Path) -> None:
    """prune forgets exactly the groups it deleted: the store still holds every group of
    the file, and a pruned group coming back is planned as new, without a miss."""
    clock = FakeClock()
    async with relay_at(tmp_path / "relay.db", clock, shortcuts=True) as relay:
        store = relay.state.store
        assert isinstance(store, SQLiteStore)
        quiet = webhook(alert(name="Groupa", status="resolved"), group_key='{}:{alertname="Groupa"}')
        firing = webhook(alert(name="Groupb"), group_key='{}:{alertname="Groupb"}')
        for body in (quiet, firing):
            assert (await relay.post(body)).status_code == 200
        await relay.deliver_all()
        clock.advance(7200)
        assert await store.prune(clock.now(), 60, 60) > 0
        assert store._groups_complete
        assert sorted(store._committed_groups) == ['team|{}:{alertname="Groupb"}']
        used, missed = store.plans_used, store.plans_missed
        assert (await relay.post(quiet)).status_code == 200
        assert (store.plans_used, store.plans_missed) == (used + 1, missed)
