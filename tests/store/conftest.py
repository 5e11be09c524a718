"""The ``store`` fixture: every contract test runs once per backend in BACKENDS.

Adding a backend is one factory and one entry in BACKENDS: the factory gets the test's
request and ``tmp_path`` and returns an opened, empty store; the fixture closes it
afterwards. Redis runs as one real ``redis-server`` per session; each test gets a key
prefix of its own, so tests never see each other's data. ``sentinel`` is the same store
on a primary found through three sentinels, each commit waiting for its replica
(``min_replicas_acked: 1``).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from relay.store.base import Store
from relay.store.redis import RedisStore
from relay.store.redis.connection import Replication
from relay.store.sqlite import SQLiteStore
from tests.conftest import require_binary
from tests.helpers.redis_server import RedisServer
from tests.helpers.sentinel import SentinelSet

StoreFactory = Callable[[pytest.FixtureRequest, Path], Awaitable[Store]]

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(binary=require_binary("redis-server"))
    with server:
        yield server


async def make_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/relay.db")
    await store.open()
    return store


async def make_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    server: RedisServer = request.getfixturevalue("redis_server")
    store = RedisStore.from_url(f"{server.url}?prefix=t{next(_prefixes)}:")
    await store.open()
    return store


@pytest.fixture(scope="session")
def sentinel_set() -> Iterator[SentinelSet]:
    with SentinelSet(require_binary("redis-server"), appendonly=False) as found:
        yield found


async def make_sentinel(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    found: SentinelSet = request.getfixturevalue("sentinel_set")
    store = RedisStore.from_url(f"{found.url}?prefix=s{next(_prefixes)}:", replication=Replication(1, 5.0))
    await store.open()
    return store


BACKENDS: dict[str, StoreFactory] = {
    "sqlite": make_sqlite,
    "redis": make_redis,
    "sentinel": make_sentinel,
}


@pytest.fixture(params=list(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await BACKENDS[request.param](request, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
