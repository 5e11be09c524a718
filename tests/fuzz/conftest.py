"""An in-process relay for fuzzing ingest, and the tally of answers it gave.

Every request goes through :meth:`FuzzRelay.send`, which checks the promises that hold
for any input: no 5xx but a deliberate 503, every answer counted once in
relay_webhooks_received_total, nothing logged at ERROR for a client's mistake, and
every 200 leaves notifications that read back from the store and render.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.core.alerts import Notification
from relay.core.clock import FakeClock
from relay.obs.metrics import Metrics
from relay.store.sqlite import SQLiteStore
from relay.web.service import RelayState, create_app
from tests.conftest import make_config

TOKEN = "fuzz-token"
MAX_BODY = 65536
CONFIG = f"""
server:
  max_body_bytes: {MAX_BODY}
  auth:
    bearer_token: {TOKEN}
route:
  receiver: team
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
      group_by: [alertname, instance]
      group_wait: 30s
      continue: true
receivers:
  - name: team
    log_configs: [{{}}]
  - name: oncall
    log_configs: [{{}}]
"""
# Templates each accepted notification must render with, in both built-in locales.
TEMPLATES = ("log.txt", "email.html", "email.subject", "slack.alert", "wecom.markdown", "webhook.body")

STATUS_COUNTS: Counter[int] = Counter()


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _received_total(state: RelayState) -> float:
    return sum(
        sample.value
        for family in state.metrics.webhooks_received.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


class FuzzRelay:
    """One relay (SQLite in a temp dir, fake clock, no workers) driven from sync tests."""

    def __init__(
        self,
        runner: asyncio.Runner,
        state: RelayState,
        client: httpx.AsyncClient,
        clock: FakeClock,
        errors: _Errors,
    ) -> None:
        self.runner = runner
        self.state = state
        self.client = client
        self.clock = clock
        self.errors = errors
        self.sent = 0

    def send(
        self, body: bytes, *, headers: dict[str, str] | None = None, path: str = "/api/v1/alerts/webhook"
    ) -> httpx.Response:
        return self.runner.run(self._send(body, headers, path))

    async def _send(self, body: bytes, headers: dict[str, str] | None, path: str) -> httpx.Response:
        if headers is None:
            headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
        before = _received_total(self.state)
        response = await self.client.post(path, content=body, headers=headers)
        self.sent += 1
        STATUS_COUNTS[response.status_code] += 1
        assert response.status_code < 500 or response.status_code == 503, response.text
        assert _received_total(self.state) == before + 1, "answer not counted once"
        errors, self.errors.records[:] = list(self.errors.records), []
        assert not errors, [r.getMessage() for r in errors]
        if response.status_code == 200:
            await self._read_back(response.json()["notifications"])
        elif response.status_code >= 400:
            assert set(response.json()) == {"error", "details"}, response.text
        self.clock.advance(1)
        return response

    async def _read_back(self, notifications: int) -> None:
        """The new jobs read back from the store; the newest renders with the built-in templates."""
        if not notifications:
            return
        renderer = self.state.runtime.renderer
        jobs = await self.state.store.list_jobs(limit=notifications)
        assert len(jobs) == notifications
        notification = Notification.model_validate(jobs[0].payload)
        for name in TEMPLATES:
            for locale in ("en", "zh-CN"):
                renderer.render(name, notification, locale=locale)


@pytest.fixture(scope="module")
def fuzz_relay() -> Iterator[FuzzRelay]:
    errors = _Errors()
    root = logging.getLogger()
    root.addHandler(errors)
    with tempfile.TemporaryDirectory(prefix="relay-fuzz-") as tmp, asyncio.Runner() as runner:
        clock = FakeClock()
        store = SQLiteStore.from_url(f"sqlite:///{tmp}/relay.db")
        app = create_app(make_config(CONFIG), store=store, clock=clock, metrics=Metrics(), background=False)
        state: RelayState = app.state.relay
        running = state.running(background=False)
        runner.run(running.__aenter__())
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay")
        relay = FuzzRelay(runner, state, client, clock, errors)
        try:
            yield relay
            assert _received_total(state) == relay.sent  # the counter's sum is what was sent
        finally:
            runner.run(client.aclose())
            runner.run(running.__aexit__(None, None, None))
            root.removeHandler(errors)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATUS_COUNTS:
        return
    total = sum(STATUS_COUNTS.values())
    line = ", ".join(f"{code}: {n}" for code, n in sorted(STATUS_COUNTS.items()))
    terminalreporter.write_line(f"fuzzed ingest requests: {total} ({line})")
    summary = Path(
        os.environ.get("RELAY_FUZZ_SUMMARY") or Path(tempfile.gettempdir()) / "relay-fuzz-summary.json"
    )
    summary.write_text(json.dumps({"total": total, "by_status": dict(sorted(STATUS_COUNTS.items()))}))
    terminalreporter.write_line(f"fuzz summary written to {summary}")
