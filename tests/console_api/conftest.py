"""A relay with no background workers on each store backend, for the console's API.

The config carries a secret of every kind (bearer token, webhook URL and basic-auth
password, Slack URL, WeCom key); ``SECRETS`` lists them so tests can grep every answer.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.core.clock import FakeClock
from relay.obs.metrics import Metrics
from relay.store.base import Store
from relay.store.redis import RedisStore
from relay.store.sqlite import SQLiteStore
from relay.web.service import RelayState, create_app
from tests.conftest import Relay, make_config
from tests.store.conftest import redis_server  # noqa: F401 - the session's redis-server

TOKEN = "console-token-5f1e9a"
SECRETS = [
    TOKEN,
    "https://sink.example/hook/url-secret-77aa",
    "hook-password-31c4",
    "https://hooks.slack.com/services/T000/B000/slacksecret99",
    "wecom-key-8d2b6f",
    "redis-pass-4e0c2a",  # in storage.url, shown by /api/v1/config only (the store is handed in)
]
HOOK_URL = SECRETS[1]

CONFIG = f"""
global: {{external_url: "https://relay.example.com"}}
storage: {{url: "redis://:{SECRETS[5]}@127.0.0.1:6379/0"}}
server:
  auth: {{bearer_token: {TOKEN}}}
  ui: {{read_only: {{read_only}}, keep_webhooks: 5}}
route:
  receiver: oncall
  routes:
    - matchers: ['team="db"']
      receiver: db
receivers:
  - name: oncall
    webhook_configs:
      - url: {HOOK_URL}
        basic_auth: {{username: relay, password: {SECRETS[2]}}}
    wecom_configs: [{{key: {SECRETS[4]}}}]
  - name: db
    slack_configs: [{{api_url: "{SECRETS[3]}"}}]
"""

_prefixes = itertools.count()
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


async def open_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if name == "sqlite":
        return SQLiteStore.from_url(f"sqlite:///{tmp_path}/relay.db")
    server = request.getfixturevalue("redis_server")
    return RedisStore.from_url(f"{server.url}?prefix=api{next(_prefixes)}:")


ConsoleFactory = Callable[..., AbstractAsyncContextManager[Relay]]


@pytest.fixture(params=["sqlite", "redis"])
def console(request: pytest.FixtureRequest, tmp_path: Path) -> ConsoleFactory:
    """``async with console(read_only=False) as relay``: relay.client sends the token."""

    @asynccontextmanager
    async def factory(
        *, read_only: bool = False, config_text: str | None = None, clock: FakeClock | None = None
    ) -> AsyncIterator[Relay]:
        text = (config_text or CONFIG).replace("{read_only}", str(read_only).lower())
        config = make_config(text)
        clock = clock or FakeClock()
        store = await open_backend(request.param, request, tmp_path)
        app = create_app(config, store=store, clock=clock, metrics=Metrics(), background=False)
        state: RelayState = app.state.relay
        async with state.running(background=False):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://relay", headers=HEADERS
            ) as client:
                yield Relay(app, state, clock, client)

    return factory


def leaked(answer: httpx.Response) -> list[str]:
    """The configured secrets found in an answer's body or headers."""
    text = answer.text + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
    return [s for s in SECRETS if s in text]


def json_of(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    assert not leaked(answer)
    return answer.json()
