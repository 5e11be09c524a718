"""Model-based, differential test of ingest and dedup (hypothesis stateful).

Random sequences of webhooks (HA copies with another externalURL, re-sends, changes,
resolves, receiver paths whose names share a long prefix), config reloads that add and
remove an integration, and clock jumps past ``repeat_interval`` are applied to:

* relay over SQLite as it runs (an unchanged group is not rewritten);
* relay over SQLite with that shortcut off (every transition's state is written);
* relay over Redis as it runs (a webhook that changes nothing is one MGET, no commit);
* a model: Alertmanager's notification log per (receiver, group, integration) and its
  DedupStage rule, written out here independently of relay's code.

After every step the three must have produced exactly the same notifications. Any
shortcut that answers without applying a webhook (a cache, a fast path) has to keep this
test green.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from relay.config import parse_config
from relay.core.clock import FakeClock
from relay.core.groups import GroupUpdate, TransitionResult
from relay.obs.metrics import Metrics
from relay.store.base import Store
from relay.store.redis import RedisStore
from relay.store.sqlite import SQLiteStore
from relay.web.service import RelayState, create_app
from tests.conftest import require_binary
from tests.helpers.redis_server import RedisServer
from tests.helpers.webhooks import alert, webhook

REPEAT = 4 * 3600.0
# Names that share their first 16 bytes and more: a key cut short would confuse them.
RECEIVERS = ["team", "platform-oncall-primary", "platform-oncall-secondary"]
GROUP_KEYS = ['{}:{alertname="HighCPUUsage"}', '{}:{alertname="DiskFull"}']
INSTANCES = ["node-1:9100", "node-2:9100", "node-3:9100"]
EXTERNAL_URLS = ["http://am-1:9093", "http://am-2:9093"]  # an HA pair


def config_text(extra_integration: bool) -> str:
    extra = ", {level: warning}" if extra_integration else ""
    receivers = "".join(
        f"  - name: {name}\n    log_configs: [{{}}{extra if name == RECEIVERS[1] else ''}]\n"
        for name in RECEIVERS
    )
    return f"route:\n  receiver: team\n  repeat_interval: 4h\nreceivers:\n{receivers}"


def integrations(receiver: str, extra_integration: bool) -> list[str]:
    ids = [f"{receiver}/log/0"]
    if extra_integration and receiver == RECEIVERS[1]:
        ids.append(f"{receiver}/log/1")
    return ids


class EveryStateWritten(SQLiteStore):
    """The store with its shortcut off: an unchanged group is written all the same."""

    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        def always(transition: Any) -> Any:
            return lambda state: dataclasses.replace(transition(state), changed=True)

        return await super().apply([GroupUpdate(u.key, always(u.transition)) for u in updates])


@dataclasses.dataclass
class Entry:
    firing: frozenset[str]
    resolved: frozenset[str]
    at: float


Notified = tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]


class Model:
    """Alertmanager's DedupStage, per (receiver, group key, integration); every log
    integration sends resolved alerts."""

    def __init__(self) -> None:
        self.log: dict[tuple[str, str, str], Entry] = {}

    def apply(
        self,
        receiver: str,
        group_key: str,
        alerts: list[dict[str, Any]],
        integration_ids: list[str],
        now: float,
    ) -> list[Notified]:
        firing = frozenset(a["fingerprint"] for a in alerts if a["status"] == "firing")
        resolved = frozenset(a["fingerprint"] for a in alerts if a["status"] == "resolved")
        out: list[Notified] = []
        for integration in integration_ids:
            entry = self.log.get((receiver, group_key, integration))
            if entry is None:
                reason = "new_alerts" if firing else None
            elif not firing <= entry.firing:
                reason = "new_alerts"
            elif not firing:
                reason = "all_resolved" if entry.firing else None
            elif not resolved <= entry.resolved:
                reason = "resolved"
            elif entry.at <= now - REPEAT:
                reason = "repeat"
            else:
                reason = None
            if reason is None:
                continue
            self.log[(receiver, group_key, integration)] = Entry(firing, resolved, now)
            out.append(
                (receiver, integration, group_key, reason, tuple(sorted(firing)), tuple(sorted(resolved)))
            )
        return out


def notified(jobs: list[Any]) -> list[Notified]:
    out = []
    for job in jobs:
        alerts = job.payload["alerts"]
        out.append(
            (
                job.receiver,
                job.integration,
                job.payload["group_key"],
                job.payload["reason"],
                tuple(sorted(a["fingerprint"] for a in alerts if a["status"] == "firing")),
                tuple(sorted(a["fingerprint"] for a in alerts if a["status"] == "resolved")),
            )
        )
    return sorted(out)


class DedupMachine(RuleBasedStateMachine):
    redis_url = ""  # set by the test: one redis-server, a key prefix per run
    _prefixes = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.scratch = Path(tempfile.mkdtemp(prefix="relay-model-"))
        self.clock = FakeClock()
        self.extra_integration = False
        self.model = Model()
        self.seen_jobs: list[set[str]] = []
        self.relays: list[tuple[RelayState, httpx.AsyncClient, Any]] = []
        stores: list[Store] = [
            SQLiteStore(self.scratch / "as-run.db"),
            EveryStateWritten(self.scratch / "every-state-written.db"),
            RedisStore.from_url(f"{self.redis_url}?prefix=model{next(self._prefixes)}:"),
        ]
        for store in stores:
            app = create_app(
                parse_config(config_text(False), env={}),
                store=store,
                clock=self.clock,
                metrics=Metrics(),
                background=False,
            )
            state: RelayState = app.state.relay
            running = state.running(background=False)
            self.loop.run_until_complete(running.__aenter__())
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay")
            self.relays.append((state, client, running))
            self.seen_jobs.append(set())

    def teardown(self) -> None:
        for _, client, running in self.relays:
            self.loop.run_until_complete(client.aclose())
            self.loop.run_until_complete(running.__aexit__(None, None, None))
        self.loop.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def new_notifications(self, index: int) -> list[Notified]:
        state = self.relays[index][0]
        jobs = self.loop.run_until_complete(state.store.list_jobs(limit=100_000))
        new = [job for job in jobs if job.id not in self.seen_jobs[index]]
        self.seen_jobs[index].update(job.id for job in new)
        return notified(new)

    @rule(
        group=st.sampled_from(GROUP_KEYS),
        statuses=st.lists(
            st.sampled_from([None, "firing", "resolved"]), min_size=len(INSTANCES), max_size=len(INSTANCES)
        ).filter(any),
        # The same body to one path or several, in turn: re-sends, an HA pair's copy, and
        # one Alertmanager group sent to several receivers' paths.
        paths=st.lists(st.sampled_from([None, *RECEIVERS]), min_size=1, max_size=4),
        external_url=st.sampled_from(EXTERNAL_URLS),
    )
    def post(
        self, group: str, statuses: list[str | None], paths: list[str | None], external_url: str
    ) -> None:
        alerts = [
            alert(instance=instance, status=status)
            for instance, status in zip(INSTANCES, statuses, strict=True)
            if status
        ]
        body = webhook(*alerts, group_key=group) | {"externalURL": external_url}
        for copy, path in enumerate(paths):
            receiver = path or "team"
            url = "/api/v1/alerts/webhook" + (f"/{path}" if path else "")
            expected = self.model.apply(
                receiver,
                group,
                body["alerts"],
                integrations(receiver, self.extra_integration),
                self.clock.now(),
            )
            for index, (_, client, _) in enumerate(self.relays):
                answer = self.loop.run_until_complete(client.post(url, json=body))
                assert answer.status_code == 200, answer.text
                got = self.new_notifications(index)
                assert answer.json()["notifications"] == len(got)
                assert got == sorted(expected), (index, copy, got, expected)

    @rule(seconds=st.sampled_from([1.0, 60.0, 3600.0, REPEAT - 1, REPEAT, REPEAT + 1]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def reload(self) -> None:
        self.extra_integration = not self.extra_integration
        for state, _, _ in self.relays:
            config = parse_config(textwrap.dedent(config_text(self.extra_integration)), env={})
            assert self.loop.run_until_complete(state.reload(config)) is None

    @invariant()
    def nothing_is_sent_that_was_not_asked_for(self) -> None:
        for index in range(len(self.relays)):
            assert self.new_notifications(index) == []


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = RedisServer(binary=require_binary("redis-server"))
    with server:
        yield server.url


def test_every_store_sends_what_the_model_says(redis_url: str) -> None:
    DedupMachine.redis_url = redis_url
    run_state_machine_as_test(
        DedupMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
