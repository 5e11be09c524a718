"""Group state on Redis: transitions run in Python and committed by one check-and-set
script, and the groups whose timer is due."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
import zlib
from collections.abc import Sequence
from typing import cast

import orjson

from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import alertnames_of
from relay.store.redis.common import CONTENTION_LIMIT, LOCK_STRIPES, Plan, num
from relay.store.redis.connection import RedisBase


class RedisGroups(RedisBase):
    # -- groups ------------------------------------------------------------------------
    def _plan(self, updates: Sequence[GroupUpdate], stored: dict[str, str | None]) -> Plan:
        """Run every transition on its own copy of the group as committed so far."""
        plan = Plan()
        current = dict(stored)
        for update in updates:
            raw = current[update.key]
            state = GroupState.from_dict(orjson.loads(raw)) if raw is not None else None
            before = dict(state.incident) if state is not None and state.incident else None
            result = update.transition(state)
            plan.results.append(result)
            plan.jobs += result.jobs
            if result.changed:
                plan.states[update.key] = result.state
                incident = result.state.incident if result.state is not None else None
                if incident is not None and incident != before:
                    plan.incidents[str(incident["id"])] = dict(incident)
                new = result.state
                current[update.key] = orjson.dumps(new.to_dict()).decode() if new else None
        return plan

    def _commands(self, plan: Plan) -> list[list[str | bytes]]:
        """The writes that commit ``plan``: group states, their indexes, new jobs."""
        out: list[list[str | bytes]] = []
        due, resolved = self._key("groups:due"), self._key("groups:resolved")
        for key, state in plan.states.items():
            gk = self._gk(key)
            if state is None:
                out += [
                    ["DEL", gk],
                    ["ZREM", due, key],
                    ["ZREM", resolved, key],
                    ["ZREM", self._key("groups:all"), key],
                ]
                continue
            out.append(["SET", gk, orjson.dumps(state.to_dict())])
            out.append(["ZADD", self._key("groups:all"), "0", key])
            if state.next_flush_at is None:
                out.append(["ZREM", due, key])
            else:
                out.append(["ZADD", due, num(state.next_flush_at), key])
            if state.kept_count():
                out.append(["ZREM", resolved, key])
            else:
                out.append(["ZADD", resolved, num(state.updated_at), key])
        for incident_id, incident in plan.incidents.items():
            out.append(["SET", self._key("incident", incident_id), orjson.dumps(incident)])
            out.append(["ZADD", self._key("incidents"), num(float(incident["started_at"])), incident_id])
        for job in plan.jobs:
            created = num(job.created_at)
            names = alertnames_of(job.payload)
            out.append(
                [
                    "HSET",
                    self._key("j", job.id),
                    "id",
                    job.id,
                    "receiver",
                    job.receiver,
                    "integration",
                    job.integration,
                    "group_key",
                    job.group_key,
                    "payload",
                    orjson.dumps(job.payload),
                    "status",
                    "pending",
                    "created_at",
                    created,
                    "next_attempt_at",
                    created,
                    "attempts",
                    "[]",
                    "last_error",
                    "",
                    "finished_at",
                    "",
                    "owner",
                    "",
                    "lease_until",
                    "",
                    "entry",
                    "",
                    "actions",
                    "[]",
                    "alertnames",
                    "\n".join(names),
                ]
            )
            out += [
                ["ZADD", self._key("jobs:all"), created, job.id],
                ["ZADD", self._key("jobs:status:pending"), created, job.id],
                ["ZADD", self._key("jobs:receiver", job.receiver), created, job.id],
                ["ZADD", self._key("jobs:integration", job.integration), created, job.id],
                ["ZADD", self._key("jobs:group", job.group_key), created, job.id],
                ["ZADD", self._key("open", job.integration), created, job.id],
                ["SADD", self._key("console:integrations"), job.integration],
                ["ZADD", self._key("due", job.integration), created, job.id],
                ["SADD", self._key("integrations"), job.integration],
            ]
            out += [["ZADD", self._key("jobs:alertname", name), created, job.id] for name in names]
        return out

    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        if not updates:
            return []
        keys = list(dict.fromkeys(u.key for u in updates))
        gkeys = [self._gk(k) for k in keys]
        with self._guard():
            # Most webhooks (re-sends, an HA pair's second copy) change nothing: one MGET is
            # a consistent snapshot, and when no transition wants to write, that is all.
            raw = cast(list[str | None], await self.client.mget(gkeys))
            plan = self._plan(updates, dict(zip(keys, raw, strict=True)))
            if not plan.writes:
                # Nothing to write, but what was read may be a write not yet replicated
                # (its first try was answered 503): the same wait before a 200.
                await self._replicated("the groups' state")
                return plan.results
            # Writers in this process take the same groups in turn (no retries among
            # themselves); other replicas are caught by the check in the commit script.
            stripes = sorted({zlib.crc32(k.encode()) % LOCK_STRIPES for k in keys})
            async with contextlib.AsyncExitStack() as stack:
                for stripe in stripes:
                    await stack.enter_async_context(self._locks[stripe])
                results = await self._commit(updates, keys, gkeys, raw, plan)
            await self._replicated("the commit")
            return results

    async def _commit(
        self,
        updates: Sequence[GroupUpdate],
        keys: list[str],
        gkeys: list[str],
        raw: list[str | None],
        plan: Plan,
    ) -> list[TransitionResult]:
        """Commit ``plan`` if the groups are still as read; else read and plan again."""
        deadline = time.monotonic() + CONTENTION_LIMIT
        tries = 0
        while plan.writes:
            expected = [hashlib.sha1(v.encode()).hexdigest() if v is not None else "" for v in raw]
            args: list[str | bytes] = [*expected]
            for command in self._commands(plan):
                args += [str(len(command)), *command]
            if await self._scripts["commit"](keys=gkeys, args=args, client=self.client):
                break
            tries += 1
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    f"redis {self.describe()}: gave up after {tries} tries; other writers keep"
                    " changing the same groups"
                )
            await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**tries)))
            # Another replica committed in between: the transitions run again (they have
            # no side effects) on what it committed.
            raw = cast(list[str | None], await self.client.mget(gkeys))
            plan = self._plan(updates, dict(zip(keys, raw, strict=True)))
        return plan.results

    async def due_groups(self, now: float, limit: int = 100) -> list[str]:
        with self._guard():
            keys = await self.client.zrangebyscore(
                self._key("groups:due"), "-inf", num(now), start=0, num=limit
            )
        return cast(list[str], keys)

    async def get_group(self, key: str) -> GroupState | None:
        with self._guard():
            raw = await self.client.get(self._gk(key))
        return GroupState.from_dict(orjson.loads(raw)) if raw is not None else None
