"""Shared fixtures: an in-process relay driven by a fake clock, over a real SQLite store."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx.mocks

from relay.config import Config, parse_config
from relay.core.clock import FakeClock
from relay.core.jobs import Job
from relay.obs.metrics import Metrics
from relay.store.sqlite import SQLiteStore
from relay.web.service import RelayState, create_app
from tests.helpers.respx_transport import RelayTransportMocker

# relay's delivery client sends through relay's own transport (relay.channels.http11), which
# respx's default mocker (httpcore) does not reach: this one patches both.
respx.mocks.DEFAULT_MOCKER = RelayTransportMocker.name

#: The slow tiers, one marker each, given by the folder a test lives in (pyproject.toml
#: registers them): `make test-fast` deselects them, `make test` runs everything.
SLOW_TIERS = ("e2e", "chaos", "browser", "deploy", "wheel", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        folder = Path(str(item.path)).relative_to(tests_dir).parts[0]
        if folder in SLOW_TIERS:
            item.add_marker(getattr(pytest.mark, folder))


def require_binary(name: str) -> str:
    """The path of a system binary the test needs: fail in CI when missing, else skip."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install it; .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class Relay:
    """A relay app with no background workers: tests move the clock and run the steps."""

    def __init__(self, app: Any, state: RelayState, clock: FakeClock, client: httpx.AsyncClient) -> None:
        self.app = app
        self.state = state
        self.clock = clock
        self.client = client

    async def post(
        self, payload: Any, receiver: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        path = "/api/v1/alerts/webhook" + (f"/{receiver}" if receiver else "")
        return await self.client.post(path, json=payload, headers=headers or {})

    async def jobs(self) -> list[Job]:
        return sorted(await self.state.store.list_jobs(limit=1000), key=lambda j: j.created_at)

    async def flush(self) -> int:
        return await self.state.flush_due()

    async def deliver_all(self) -> int:
        """Claim and attempt every due job once, in this task."""
        store = self.state.store
        jobs = await store.claim_jobs("test", self.clock.now(), 1000, 60.0)
        for job in jobs:
            await self.state.dispatcher.deliver(job)
        return len(jobs)


def make_config(yaml_text: str) -> Config:
    return parse_config(textwrap.dedent(yaml_text), env={})


@pytest.fixture
def relay_factory(tmp_path: Path) -> Callable[..., AbstractAsyncContextManager[Relay]]:
    @asynccontextmanager
    async def factory(yaml_text: str, *, clock: FakeClock | None = None) -> AsyncIterator[Relay]:
        config = make_config(yaml_text)
        clock = clock or FakeClock()
        store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/relay.db")
        app = create_app(config, store=store, clock=clock, metrics=Metrics(), background=False)
        state: RelayState = app.state.relay
        async with state.running(background=False):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
                yield Relay(app, state, clock, client)

    return factory
