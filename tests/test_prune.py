"""Retention of groups: every group Alertmanager ever sent is not kept forever."""

from __future__ import annotations

from tests.helpers.webhooks import alert, webhook
from tests.test_grouping import PASSTHROUGH

CONFIG = "storage: {group_retention: 1h, retention: 1h}\n" + PASSTHROUGH


def group_key(n: int) -> str:
    return f'{{}}:{{instance="node-{n}"}}'


async def group_count(relay) -> int:  # type: ignore[no-untyped-def]
    return int(
        await relay.state.store._call(lambda conn: conn.execute("SELECT count(*) FROM groups").fetchone()[0])
    )


async def test_resolved_pass_through_groups_are_pruned_and_a_refire_notifies_again(
    relay_factory,  # type: ignore[no-untyped-def]
) -> None:
    async with relay_factory(CONFIG) as relay:
        for n in range(50):
            firing = alert(instance=f"node-{n}")
            await relay.post(webhook(firing, group_key=group_key(n)))
        await relay.deliver_all()
        relay.clock.advance(60)
        for n in range(40):  # 40 groups resolve; Alertmanager keeps sending them resolved
            resolved = alert(instance=f"node-{n}", status="resolved")
            await relay.post(webhook(resolved, group_key=group_key(n)))
        await relay.deliver_all()
        assert await group_count(relay) == 50

        relay.clock.advance(2 * 3600)
        await relay.state.prune()
        assert await group_count(relay) == 10  # the firing ones stay, however old

        again = await relay.post(webhook(alert(instance="node-3"), group_key=group_key(3)))
        assert again.json()["notifications"] == 1
        jobs = [j for j in await relay.jobs() if j.group_key.endswith('node-3"}')]
        assert [j.payload["reason"] for j in jobs] == ["new_alerts"]  # the older ones were pruned


async def test_a_resolved_group_with_an_undelivered_notification_is_kept(relay_factory) -> None:  # type: ignore[no-untyped-def]
    async with relay_factory(CONFIG) as relay:
        await relay.post(webhook(alert(), group_key=group_key(1)))
        await relay.post(webhook(alert(status="resolved"), group_key=group_key(1)))
        relay.clock.advance(2 * 3600)
        await relay.state.prune()  # neither notification was delivered yet
        assert await group_count(relay) == 1
        await relay.deliver_all()
        await relay.state.prune()
        assert await group_count(relay) == 0


async def test_prune_runs_when_relay_starts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A relay restarted more often than the prune interval must still prune.
    import asyncio

    from relay.core.clock import FakeClock
    from relay.core.groups import GroupState, GroupUpdate, TransitionResult
    from relay.obs.metrics import Metrics
    from relay.store.sqlite import SQLiteStore
    from relay.web.service import create_app
    from tests.conftest import make_config

    clock = FakeClock()
    url = f"sqlite:///{tmp_path}/relay.db"
    store = SQLiteStore.from_url(url)
    await store.open()
    old = GroupState(
        key="old",
        receiver="team",
        route_id="0",
        labels={},
        alerts={"fp": {"status": "resolved"}},
        updated_at=clock.now() - 7200,
    )
    await store.apply([GroupUpdate("old", lambda _s: TransitionResult(old))])
    await store.close()

    store = SQLiteStore.from_url(url)
    app = create_app(make_config(CONFIG), store=store, clock=clock, metrics=Metrics())
    async with app.state.relay.running(background=True):
        for _ in range(100):
            if await store.get_group("old") is None:
                break
            await asyncio.sleep(0.05)
        assert await store.get_group("old") is None
