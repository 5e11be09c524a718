"""Re-sent webhooks answered without a store trip, and everything that must undo that."""

from __future__ import annotations

from relay.quiet import QuietWebhook, QuietWebhooks
from relay.store.base import GroupUpdate, TransitionResult
from tests.conftest import make_config
from tests.helpers.webhooks import alert, webhook
from tests.test_grouping import PASSTHROUGH

GROUPED = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
receivers:
  - name: team
    log_configs: [{}]
"""

A = alert(instance="node-1:9100")
A_RESOLVED = alert(instance="node-1:9100", status="resolved")


def transactions(relay) -> int:  # type: ignore[no-untyped-def]
    return int(relay.state.store.transactions)


async def test_a_resent_webhook_is_answered_without_a_commit(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        first = await relay.post(webhook(A))
        before = transactions(relay)
        again = await relay.post(webhook(A))
        assert again.status_code == 200
        assert again.json() == {"status": "accepted", "alerts": 1, "notifications": 0}
        assert first.json()["notifications"] == 1
        assert transactions(relay) == before
        suppressed = relay.state.metrics.suppressed.labels("team", "duplicate")._value.get()
        assert suppressed == 1
        assert len(await relay.jobs()) == 1


async def test_an_ha_pair_with_different_external_urls_settles_without_commits(relay_factory) -> None:
    first = webhook(A) | {"externalURL": "http://am-1:9093"}
    second = webhook(A) | {"externalURL": "http://am-2:9093"}
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(first)
        await relay.post(second)  # no change to the group: nothing new is stored
        before = transactions(relay)
        for _ in range(3):
            assert (await relay.post(first)).json()["notifications"] == 0
            assert (await relay.post(second)).json()["notifications"] == 0
        assert transactions(relay) == before
        assert len(await relay.jobs()) == 1


async def test_a_change_in_between_means_the_same_body_is_applied_again(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(60)
        await relay.post(webhook(A_RESOLVED))
        relay.clock.advance(60)
        answer = await relay.post(webhook(A))  # fires again: must not be taken for a re-send
        assert answer.json()["notifications"] == 1
        assert [j.payload["reason"] for j in await relay.jobs()] == [
            "new_alerts", "all_resolved", "new_alerts",
        ]


async def test_the_repeat_interval_still_repeats(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        await relay.post(webhook(A))
        relay.clock.advance(4 * 3600)
        answer = await relay.post(webhook(A))
        assert answer.json()["notifications"] == 1
        assert [j.payload["reason"] for j in await relay.jobs()] == ["new_alerts", "repeat"]


async def test_a_reload_forgets_everything(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        await relay.post(webhook(A))
        two = PASSTHROUGH.replace("log_configs: [{}]", "log_configs: [{}, {level: warning}]")
        assert await relay.state.reload(make_config(two)) is None
        answer = await relay.post(webhook(A))
        assert answer.json()["notifications"] == 1  # the new integration hears of it
        assert sorted(j.integration for j in await relay.jobs()) == ["team/log/0", "team/log/1"]


async def test_relay_side_groups_are_always_applied(relay_factory) -> None:
    async with relay_factory(GROUPED) as relay:
        await relay.post(webhook(A))
        before = transactions(relay)
        await relay.post(webhook(A))
        assert transactions(relay) > before


async def test_a_different_receiver_path_is_a_different_webhook(relay_factory) -> None:
    config = PASSTHROUGH + "  - name: other\n    log_configs: [{}]\n"
    async with relay_factory(config) as relay:
        await relay.post(webhook(A))
        answer = await relay.post(webhook(A), receiver="other")
        assert answer.json()["notifications"] == 1


def entry(versions: tuple[tuple[str, int], ...], generation: int = 0) -> QuietWebhook:
    return QuietWebhook(versions, quiet_until=100.0, generation=generation, alerts=1, firing=1,
                        suppressed=())


def run(quiet: QuietWebhooks, key: str) -> int:
    update, seen = quiet.track(GroupUpdate(key, lambda state: TransitionResult(state)))
    update.transition(None)
    return seen.version


def test_versions_never_repeat_even_after_they_are_forgotten() -> None:
    quiet = QuietWebhooks(capacity=1)  # forgets every key after 16 transitions
    version = run(quiet, "g")
    for n in range(40):
        run(quiet, f"other-{n}")
    quiet.remember(b"d", entry((("g", version),)))
    assert quiet.lookup(b"d", now=0.0) is None
    newer = run(quiet, "g")
    assert newer != version
    quiet.remember(b"d", entry((("g", newer),)))
    assert quiet.lookup(b"d", now=0.0) is not None
    assert quiet.lookup(b"d", now=100.0) is None  # quiet_until passed


def test_an_entry_from_before_a_reload_is_not_remembered() -> None:
    quiet = QuietWebhooks()
    version = run(quiet, "g")
    stale = entry((("g", version),), generation=quiet.generation)
    quiet.config_changed()
    quiet.remember(b"d", stale)
    assert quiet.lookup(b"d", now=0.0) is None


def test_capacity_bounds_the_entries() -> None:
    quiet = QuietWebhooks(capacity=2)
    for n in range(3):
        quiet.remember(bytes([n]), entry(((f"g{n}", run(quiet, f"g{n}")),)))
    assert quiet.lookup(b"\x00", now=0.0) is None
    assert quiet.lookup(b"\x02", now=0.0) is not None
