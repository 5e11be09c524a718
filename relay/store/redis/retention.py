"""Pruning old jobs and quiet groups on Redis, and message references."""

from __future__ import annotations

from typing import Any, cast

import orjson

from relay.store.redis.common import PRUNE_BATCH, UNFINISHED_JOBS_SCAN_LIMIT, num
from relay.store.redis.connection import RedisBase


class RedisRetention(RedisBase):
    # -- retention ---------------------------------------------------------------------
    async def prune(self, now: float, job_retention: float, group_retention: float) -> int:
        args = [
            self.prefix,
            num(now - job_retention),
            num(now - group_retention),
            str(PRUNE_BATCH),
            str(UNFINISHED_JOBS_SCAN_LIMIT),
        ]
        total = 0
        with self._guard():
            while True:  # in batches, so other replicas' commands run in between
                removed, more = await self._script("prune", args)
                total += int(removed)
                if not more:
                    break
            # On-call overrides are history once they ended: kept as long as a quiet group.
            key = self._key("oncall-overrides")
            ended = [
                override_id
                for override_id, value in (await self.client.hgetall(key)).items()
                if float(orjson.loads(value).get("end", 0)) < now - group_retention
            ]
            if ended:
                total += int(await self.client.hdel(key, *ended))
            # Incidents are kept for statistics as long as delivered jobs are.
            index = self._key("incidents")
            while True:
                old = await self.client.zrangebyscore(
                    index, "-inf", f"({num(now - job_retention)}", start=0, num=PRUNE_BATCH
                )
                if not old:
                    break
                names = [i.decode() if isinstance(i, bytes) else str(i) for i in old]
                await self.client.delete(*[self._key("incident", i) for i in names])
                total += int(await self.client.zrem(index, *names))
        return total

    # -- message references ------------------------------------------------------------
    async def get_ref(self, key: str) -> dict[str, Any] | None:
        with self._guard():
            raw = await self.client.get(self._key("ref", key))
        return cast(dict[str, Any], orjson.loads(raw)) if raw is not None else None

    async def add_ref(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        with self._guard():
            added = await self.client.set(
                self._key("ref", key), orjson.dumps(value), px=max(1, round(ttl * 1000)), nx=True
            )
        return bool(added)

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None:
        with self._guard():
            await self.client.set(self._key("ref", key), orjson.dumps(value), px=max(1, round(ttl * 1000)))
