"""On-call overrides made at run time, on Redis: one hash, the override's id -> its JSON;
and incidents: ``incident:<id>`` (JSON) indexed by ``incidents`` (zset, score started_at)."""

from __future__ import annotations

from typing import Any, cast

import orjson

from relay.store.redis.connection import RedisBase


class RedisOnCall(RedisBase):
    async def add_override(self, override: dict[str, Any]) -> None:
        with self._guard():
            await self.client.hset(self._key("oncall-overrides"), str(override["id"]), orjson.dumps(override))

    async def list_overrides(self, schedule: str | None = None) -> list[dict[str, Any]]:
        with self._guard():
            raw = await self.client.hgetall(self._key("oncall-overrides"))
        found = [cast(dict[str, Any], orjson.loads(value)) for value in raw.values()]
        if schedule is not None:
            found = [o for o in found if o.get("schedule") == schedule]
        return sorted(found, key=lambda o: (float(o.get("created_at", 0)), str(o.get("id", ""))))

    async def delete_override(self, schedule: str, override_id: str) -> bool:
        key = self._key("oncall-overrides")
        with self._guard():
            raw = await self.client.hget(key, override_id)
            if raw is None or orjson.loads(raw).get("schedule") != schedule:
                return False
            return bool(await self.client.hdel(key, override_id))

    async def list_incidents(self, since: float, limit: int) -> list[dict[str, Any]]:
        with self._guard():
            index = self._key("incidents")
            ids = cast(
                list[Any], await self.client.zrevrangebyscore(index, "+inf", since, start=0, num=limit)
            )
            if not ids:
                return []
            names = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
            raw = await self.client.mget([self._key("incident", name) for name in names])
        return [cast(dict[str, Any], orjson.loads(value)) for value in raw if value is not None]
