"""The ingest benchmark's "new group per request" load: every request a group never sent
before, in every run and from every wrk at once (two replicas get two wrk)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.ingest import five_alert_webhook, run_wrk, wrk_script
from tests.conftest import require_binary
from tests.helpers.sink import Sink


def test_new_group_runs_never_repeat_a_group(tmp_path: Path) -> None:
    # wrk's math.random starts from the same seed in every process: a prefix drawn in the
    # script made every run after the first re-send the first run's groups, and made
    # the two replicas' wrk send each other's.
    require_binary("wrk")
    script = tmp_path / "unique.lua"
    script.write_text(wrk_script(json.dumps(five_alert_webhook()), unique_groups=True))
    with Sink() as first, Sink() as second:
        for _ in range(2):
            assert run_wrk([first.url, second.url], script, connections=2, duration=1) > 0
        received = [first.received, second.received]
    assert all(received)
    keys = [request.json()["groupKey"] for requests in received for request in requests]
    assert len(set(keys)) == len(keys), f"{len(keys) - len(set(keys))} of {len(keys)} groups sent again"
