"""Durable state: group state, notification log, jobs, attempts, dead letters, references."""

from __future__ import annotations

from relay.config.storage import storage_kind
from relay.store.base import Store
from relay.store.redis import RedisStore
from relay.store.sqlite import SQLiteStore


def open_store(url: str, *, instance: str = "relay") -> Store:
    """The backend named by ``storage.url`` (``sqlite:///path`` or ``redis[s]://host/db``)."""
    if storage_kind(url) == "sqlite":
        return SQLiteStore.from_url(url)
    return RedisStore.from_url(url, instance=instance)


__all__ = ["Store", "open_store"]
