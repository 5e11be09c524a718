"""The webhooks kept for the console cost ingest no store write of its own: they are held
in memory and written in one batch, shown at once, bounded, and kept across a stop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from relay.core.errors import StoreUnavailable
from relay.store.base import KeptWebhook
from relay.web.kept import WebhookKeeper, within
from tests.conftest import Relay
from tests.helpers.webhooks import alert, webhook

CONFIG = """
server: {ui: {keep_webhooks: 3}}
route: {receiver: oncall}
receivers: [{name: oncall, log_configs: [{}]}]
"""


class CountingWrites:
    """Counts the store's keep_webhooks calls and passes them on."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.batches: list[int] = []
        self.fail = False

    async def keep_webhooks(self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int) -> None:
        if self.fail:
            raise StoreUnavailable("disk full")
        self.batches.append(len(webhooks))
        await self.store.keep_webhooks(webhooks, keep, keep_bytes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_ingest_writes_no_copy_until_the_batch(
    relay_factory: Callable[..., AbstractAsyncContextManager[Relay]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with relay_factory(CONFIG) as relay:
        counting = CountingWrites(relay.state.store)
        monkeypatch.setattr(relay.state, "store", counting)
        same = webhook(alert(instance="a"))
        for _ in range(20):  # Alertmanager's re-sends of one group
            assert (await relay.client.post("/api/v1/alerts/webhook", json=same)).status_code == 200
        assert counting.batches == []  # no store write per webhook
        shown = (await relay.client.get("/api/v1/webhooks")).json()["webhooks"]
        assert len(shown) == 3  # shown at once, within keep_webhooks

        await relay.state.flush_kept()
        assert counting.batches == [3]  # one write, only what the bound keeps
        assert [h.id for h in await counting.store.recent_webhooks()] == [h["id"] for h in shown]
        assert (await relay.client.get("/api/v1/webhooks")).json()["webhooks"] == shown


async def test_a_failed_batch_is_written_with_the_next_one() -> None:
    class Failing:
        def __init__(self) -> None:
            self.fail = True
            self.written: list[KeptWebhook] = []

        async def keep_webhooks(self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int) -> None:
            if self.fail:
                raise StoreUnavailable("down")
            self.written += webhooks

    store = Failing()
    keeper = WebhookKeeper()
    for i in range(5):
        keeper.add(KeptWebhook(f"w{i}", float(i), "", "{}"), keep=3, keep_bytes=1000)
    await keeper.flush(store, 3, 1000)  # type: ignore[arg-type]
    assert [h.id for h in keeper.pending()] == ["w4", "w3", "w2"]
    store.fail = False
    await keeper.flush(store, 3, 1000)  # type: ignore[arg-type]
    assert [h.id for h in store.written] == ["w2", "w3", "w4"] and keeper.pending() == []


def test_bounds_by_count_and_bytes() -> None:
    hooks = [KeptWebhook(f"w{i}", float(i), "", "x" * 40) for i in range(5)]
    assert [h.id for h in within(hooks, 3, 1000)] == ["w0", "w1", "w2"]
    assert [h.id for h in within(hooks, 5, 100)] == ["w0", "w1"]
    keeper = WebhookKeeper()
    keeper.add(KeptWebhook("big", 0.0, "", "x" * 2000), keep=3, keep_bytes=1000)
    keeper.add(KeptWebhook("off", 0.0, "", "{}"), keep=0, keep_bytes=1000)
    assert keeper.pending() == []


async def test_kept_webhooks_survive_a_stop(
    relay_factory: Callable[..., AbstractAsyncContextManager[Relay]],
) -> None:
    async with relay_factory(CONFIG) as relay:
        await relay.client.post("/api/v1/alerts/webhook", json=webhook(alert(instance="z")))
        kept = (await relay.client.get("/api/v1/webhooks")).json()["webhooks"]
    async with relay_factory(CONFIG) as again:  # the same SQLite file
        assert (await again.client.get("/api/v1/webhooks")).json()["webhooks"] == kept
