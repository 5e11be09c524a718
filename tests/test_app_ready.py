"""/-/ready follows the store's health as ingest sees it, not only a SELECT 1."""

from __future__ import annotations

from typing import Any

import pytest

from relay.core.errors import StoreUnavailable
from tests.helpers.webhooks import alert, webhook

CONFIG = """
route:
  receiver: team
receivers:
  - name: team
    log_configs: [{}]
"""


class CommitsFail:
    """Makes a real store fail every write (disk full) while reads and SELECT 1 still work."""

    def __init__(self, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.broken = False
        for name in ("apply", "set_ref"):
            original = getattr(store, name)

            def make(original: Any) -> Any:
                async def write(*args: Any, **kwargs: Any) -> Any:
                    if self.broken:
                        raise StoreUnavailable("database or disk is full")
                    return await original(*args, **kwargs)

                return write

            monkeypatch.setattr(store, name, make(original))


async def test_ready_is_503_while_commits_fail_and_recovers_with_the_store(
    relay_factory,
    monkeypatch,
) -> None:
    async with relay_factory(CONFIG) as relay:
        disk = CommitsFail(relay.state.store, monkeypatch)
        assert (await relay.client.get("/-/ready")).status_code == 200

        disk.broken = True
        refused = await relay.post(webhook(alert()))
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
        ready = await relay.client.get("/-/ready")
        assert ready.status_code == 503
        assert "disk is full" in ready.text
        assert (await relay.client.get("/-/ready")).status_code == 503  # the probe fails too
        assert (await relay.client.get("/-/healthy")).status_code == 200

        disk.broken = False
        assert (await relay.client.get("/-/ready")).status_code == 200  # a write probe succeeded
        assert (await relay.post(webhook(alert()))).status_code == 200


async def test_a_successful_commit_makes_ready_again_without_a_probe(relay_factory, monkeypatch) -> None:
    async with relay_factory(CONFIG) as relay:
        disk = CommitsFail(relay.state.store, monkeypatch)
        disk.broken = True
        assert (await relay.post(webhook(alert()))).status_code == 503
        assert relay.state.store_problem is not None
        disk.broken = False
        assert (await relay.post(webhook(alert()))).status_code == 200
        assert relay.state.store_problem is None
        assert (await relay.client.get("/-/ready")).status_code == 200


async def test_a_failing_group_flush_also_marks_the_store_unhealthy(relay_factory, monkeypatch) -> None:
    grouped = CONFIG.replace(
        "  receiver: team", "  receiver: team\n  group_by: [alertname]\n  group_wait: 30s"
    )
    async with relay_factory(grouped) as relay:
        assert (await relay.post(webhook(alert()))).status_code == 200
        disk = CommitsFail(relay.state.store, monkeypatch)
        disk.broken = True
        relay.clock.advance(31)
        with pytest.raises(StoreUnavailable):
            await relay.flush()
        assert (await relay.client.get("/-/ready")).status_code == 503
        disk.broken = False
        assert await relay.flush() == 1
        assert (await relay.client.get("/-/ready")).status_code == 200
