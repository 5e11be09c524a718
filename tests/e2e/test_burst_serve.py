"""A burst through two real `relay serve` replicas on one real Redis (issue 25, item 9):
40 groups for one WeCom robot arrive over about eight seconds, half to each replica, and
one replica is killed with SIGKILL while the burst's notifications wait for their digest.
Every alert reaches the robot once, in a handful of messages rather than forty: each
replica lets at most ``burst.after`` go alone, and the waiting ones (given back to the
store, due on a wall-clock grid every replica shares) go out as digests from the survivor.
"""

from __future__ import annotations

import collections
import re
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.storm import Coverage, Robot, group_webhook
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.redis_server import RedisServer

GROUPS, PER_GROUP = 40, 2
LONE_WAITER = "the one notification that waited for a digest goes alone"
_ENTRY = re.compile(r"group=g(\d+)\b[^\n]*· (\d+) firing")
_ALONE = re.compile(r"\[FIRING:\d+\][^\n]*\bg(\d+)\b")


def told(messages: list[tuple[float, str]]) -> collections.Counter[int]:
    """How many times each group was told: alone, or as a digest's line."""
    counts: collections.Counter[int] = collections.Counter()
    for _, text in messages:
        if "storm" in text.lower():
            counts.update(int(group) for group, _ in _ENTRY.findall(text))
        else:
            counts.update({int(group) for group in _ALONE.findall(text)})
    return counts


def test_two_replicas_summarise_a_burst_once_across_a_kill_9(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    robot = Robot()
    config = tmp_path / "relay.yml"
    config.write_text(f"""
storage: {{url: "{redis_server.url}?prefix=burst:"}}
delivery: {{lease: 3s}}
route:
  receiver: oncall
receivers:
  - name: oncall
    wecom_configs:
      - webhook_url: "{robot.url}"
        storm: {{burst: {{after: 3, window: 1m, collect: 5s}}}}
""")
    with ExitStack() as stack:
        stack.callback(robot.close)
        replicas = []
        for _ in range(2):
            relay = RelayProcess(config)
            stack.callback(relay.stop)
            replicas.append(relay.start())
        with httpx.Client(timeout=10.0) as client:
            for index in range(GROUPS):
                target = replicas[index % 2]
                body = group_webhook(index, PER_GROUP)
                answer = client.post(f"{target.url}/api/v1/alerts/webhook", json=body)
                assert answer.status_code == 200, answer.text
                time.sleep(0.2)
        # The victim dies while the burst's notifications wait in the store for their digest.
        replicas[0].kill9()
        survivor = replicas[1]
        coverage = Coverage(GROUPS, PER_GROUP)

        def covered() -> bool:
            with robot.lock:
                coverage.scan(list(robot.messages))
            return coverage.complete

        assert wait_for(covered, timeout=40), survivor.log()[-3000:]
        time.sleep(1.0)  # anything sent twice would arrive by now
        with robot.lock:
            messages = list(robot.messages)
        counts = told(messages)
        assert set(counts) == set(range(GROUPS)), sorted(set(range(GROUPS)) - set(counts))
        assert max(counts.values()) == 1, {g: n for g, n in counts.items() if n > 1}
        singles = [text for _, text in messages if "storm" not in text.lower()]
        # burst.after per replica, and any notification that waited for a digest nothing
        # else joined (it goes alone: there is no digest of one), as each relay logged it.
        alone = sum(r.log_path.read_text(errors="replace").count(LONE_WAITER) for r in replicas)
        assert len(singles) <= 2 * 3 + alone, (len(singles), alone)
        assert len(messages) <= 12, len(messages)  # was one message per group: 40
        assert robot.throttled == 0
        jobs = survivor.settled_jobs(GROUPS)
        notifications = [j for j in jobs if not j.get("digest")]
        assert len(notifications) == GROUPS and {j["status"] for j in notifications} == {"delivered"}
