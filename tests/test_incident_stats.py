"""GET /api/v1/stats: incidents per receiver and per policy, with the median and 90th
percentile of the time to acknowledge and to resolve, kept after the group is gone."""

from __future__ import annotations

import random

import pytest

from relay.core.clock import FakeClock
from relay.pipeline.stats import nearest_rank
from tests.helpers.webhooks import alert, webhook
from tests.test_escalation import CONFIG, T0, critical


def test_nearest_rank_is_the_smallest_value_with_that_share_at_or_below_it() -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.uniform(0, 1000) for _ in range(rng.randint(1, 40))]
        p90 = nearest_rank(values, 0.9)
        assert p90 is not None and p90 in values
        # By definition: at least 90% are <= it, and fewer than 90% are below it.
        assert sum(v <= p90 for v in values) >= 0.9 * len(values)
        assert sum(v < p90 for v in values) < 0.9 * len(values)
    assert nearest_rank([], 0.9) is None


async def test_stats_count_incidents_and_time_them(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        delays = {"A": 60, "B": 300, "C": None}  # seconds to acknowledge; C never
        for name in delays:
            await relay.post(webhook(critical(name), group_key=f'{{}}:{{alertname="{name}"}}'))
        await relay.post(webhook(alert("Quiet"), group_key='{}:{alertname="Quiet"}'))
        groups = {
            g["labels"]["alertname"]: g["key"]
            for g in (await relay.client.get("/api/v1/groups")).json()["groups"]
        }
        elapsed = 0.0
        for name, delay in sorted(((n, d) for n, d in delays.items() if d is not None), key=lambda x: x[1]):
            relay.clock.advance(delay - elapsed)
            elapsed = delay
            await relay.state.flush_due()
            ack = await relay.client.post(f"/api/v1/groups/{groups[name]}/ack", json={"by": "lisi"})
            assert ack.status_code == 200
        relay.clock.advance(600 - elapsed)
        await relay.post(webhook(critical("A", status="resolved"), group_key='{}:{alertname="A"}'))
        # A's group is pruned: its incident stays for the statistics.
        await relay.state.store.prune(relay.clock.now() + 10, job_retention=7 * 86400, group_retention=1)
        stats = (await relay.client.get("/api/v1/stats", params={"since": "1d"})).json()
        total = stats["total"]
        assert (total["incidents"], total["acknowledged"], total["resolved"]) == (4, 2, 1)
        assert total["time_to_acknowledge_seconds"] == {"median": 180, "p90": 300}
        assert total["time_to_resolve_seconds"] == {"median": 600, "p90": 600}
        sre = stats["policies"]["sre"]
        assert sre["incidents"] == 3  # Quiet has no policy
        assert sre["escalated"] == 2  # B and C reached step 2 (at 5m) before B's ack
        assert stats["receivers"]["ops"]["incidents"] == 4
        only = (
            await relay.client.get("/api/v1/stats", params={"escalation": "sre", "receiver": "ops"})
        ).json()
        assert only["total"]["incidents"] == 3


@pytest.mark.parametrize("since", ["soon", "0s", "-1d"])
async def test_a_bad_window_is_a_400_naming_it(relay_factory, since: str) -> None:
    async with relay_factory(CONFIG) as relay:
        answer = await relay.client.get("/api/v1/stats", params={"since": since})
        assert answer.status_code == 400 and "since" in answer.text
