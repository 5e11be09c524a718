"""Durable state: group state, notification log, jobs, attempts, dead letters, references."""

from __future__ import annotations

from relay.store.base import Store


def open_store(url: str, *, instance: str = "relay") -> Store:
    """The backend named by ``storage.url`` (``sqlite:///path`` or ``redis[s]://host/db``)."""
    if url.startswith("sqlite://"):
        from relay.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from relay.store.redis import RedisStore

        return RedisStore.from_url(url, instance=instance)
    raise ValueError(f"unsupported storage url scheme: {url.split(':', 1)[0]!r}")


__all__ = ["Store", "open_store"]
