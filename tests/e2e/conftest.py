"""Fixtures the end-to-end tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.helpers.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on loopback with every write fsynced to its append-only file:
    a restart keeps everything acknowledged (a test module may define its own)."""
    server = RedisServer(binary=require_binary("redis-server"), appendonly=True, data_dir=tmp_path / "redis")
    server.data_dir.mkdir()
    with server:
        yield server
