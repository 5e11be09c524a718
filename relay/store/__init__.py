"""Durable state: group state, notification log, jobs, attempts, dead letters, references."""

from __future__ import annotations

from relay.config.sections import StorageConfig
from relay.config.storage import storage_kind
from relay.store.base import Store
from relay.store.redis import RedisStore
from relay.store.redis.connection import Replication
from relay.store.sqlite import SQLiteStore


def open_store(storage: StorageConfig | str, *, instance: str = "relay") -> Store:
    """The backend ``storage`` names (``sqlite:///path``, ``redis[s]://host/db``,
    ``redis+sentinel://...``), with its Sentinel and replication settings."""
    config = StorageConfig(url=storage) if isinstance(storage, str) else storage
    if storage_kind(config.url) == "sqlite":
        return SQLiteStore.from_url(config.url)
    return RedisStore.from_url(
        config.url,
        instance=instance,
        sentinel_password=config.sentinel_password.get_secret_value() if config.sentinel_password else None,
        replication=Replication(config.min_replicas_acked, config.replica_ack_timeout),
    )


__all__ = ["Store", "open_store"]
