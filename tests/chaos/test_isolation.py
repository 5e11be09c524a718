"""A real `relay serve`: a webhook destination that accepts and never answers must not
stall another receiver's deliveries (bounded load, loopback only, well under a minute).

The scenario lives in bench/isolation.py (which measures it); this test bounds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.isolation import run_once


@pytest.mark.parametrize(
    ("timeout", "max_in_flight", "duration"),
    [
        # A hang far longer than the run: the stuck integration would take every slot it
        # can get (before the share: all 8).
        (30.0, 8, 5.0),
        # The default 64 slots, and attempts that end: when the first times out (5 s, with
        # ~100 jobs waiting), a claim used to hand the stuck integration every free slot and
        # the fast receiver got none until the next timeout (the probe: 58 of 64 slots).
        (5.0, None, 8.0),
    ],
)
def test_a_hanging_destination_does_not_stall_another_receiver(
    tmp_path: Path, timeout: float, max_in_flight: int | None, duration: float
) -> None:
    run = run_once(
        tmp_path,
        neighbour=True,
        rate=20.0,
        duration=duration,
        timeout=timeout,
        max_in_flight=max_in_flight,
        drain_timeout=15.0,
    )
    assert run.stuck_posted == run.posted == int(20 * duration)
    assert run.stuck_connections >= 1  # the hanging destination was really being waited on
    assert len(run.latencies) == run.posted, "fast notifications were not all delivered"
    # Generous bounds for a shared 2-core machine; alone, p99 is a few milliseconds.
    assert run.quantile(0.99) < 2.0, f"p99 accept->delivered {run.quantile(0.99):.3f}s"
    assert run.max_gap < 2.0, f"no fast delivery for {run.max_gap:.3f}s"
    assert run.wall < 45.0
