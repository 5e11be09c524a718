"""Re-sent webhooks: a copy changes nothing, but a change, a repeat, a reload or another
receiver path must notify again."""

from __future__ import annotations

from tests.conftest import make_config
from tests.helpers.webhooks import alert, webhook
from tests.test_grouping import PASSTHROUGH

A = alert(instance="node-1:9100")
A_RESOLVED = alert(instance="node-1:9100", status="resolved")


async def test_a_change_in_between_means_the_same_body_is_applied_again(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        relay.clock.advance(60)
        await relay.post(webhook(A_RESOLVED))
        relay.clock.advance(60)
        answer = await relay.post(webhook(A))  # fires again: must not be taken for a re-send
        assert answer.json()["notifications"] == 1
        assert [j.payload["reason"] for j in await relay.jobs()] == [
            "new_alerts",
            "all_resolved",
            "new_alerts",
        ]


async def test_the_repeat_interval_still_repeats(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        await relay.post(webhook(A))
        relay.clock.advance(4 * 3600)
        answer = await relay.post(webhook(A))
        assert answer.json()["notifications"] == 1
        assert [j.payload["reason"] for j in await relay.jobs()] == ["new_alerts", "repeat"]


async def test_after_a_reload_a_new_integration_hears_of_a_resent_webhook(relay_factory) -> None:
    async with relay_factory(PASSTHROUGH) as relay:
        await relay.post(webhook(A))
        await relay.post(webhook(A))
        two = PASSTHROUGH.replace("log_configs: [{}]", "log_configs: [{}, {level: warning}]")
        assert await relay.state.reload(make_config(two)) is None
        answer = await relay.post(webhook(A))
        assert answer.json()["notifications"] == 1  # the new integration hears of it
        assert sorted(j.integration for j in await relay.jobs()) == ["team/log/0", "team/log/1"]


async def test_a_different_receiver_path_is_a_different_webhook(relay_factory) -> None:
    config = PASSTHROUGH + "  - name: other\n    log_configs: [{}]\n"
    async with relay_factory(config) as relay:
        await relay.post(webhook(A))
        answer = await relay.post(webhook(A), receiver="other")
        assert answer.json()["notifications"] == 1


async def test_receiver_paths_sharing_a_long_prefix_each_notify(relay_factory) -> None:
    names = ["platform-oncall-primary", "platform-oncall-secondary"]
    config = PASSTHROUGH + "".join(f"  - name: {n}\n    log_configs: [{{}}]\n" for n in names)
    async with relay_factory(config) as relay:
        for name in names:
            answer = await relay.post(webhook(A), receiver=name)
            assert answer.json()["notifications"] == 1, name
        for name in names:  # the copies are duplicates, each of its own receiver
            assert (await relay.post(webhook(A), receiver=name)).json()["notifications"] == 0
        assert sorted(j.receiver for j in await relay.jobs()) == names
