"""The ``store`` fixture: every contract test runs once per backend in BACKENDS.

Adding a backend is one factory and one entry in BACKENDS: the factory gets the test's
``tmp_path`` and returns an opened, empty store; the fixture closes it afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from relay.store.base import Store
from relay.store.sqlite import SQLiteStore

StoreFactory = Callable[[Path], Awaitable[Store]]


async def make_sqlite(tmp_path: Path) -> Store:
    store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/relay.db")
    await store.open()
    return store


BACKENDS: dict[str, StoreFactory] = {
    "sqlite": make_sqlite,
}


@pytest.fixture(params=list(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await BACKENDS[request.param](tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
