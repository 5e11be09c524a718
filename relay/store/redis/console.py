"""What the console reads on Redis: the delivery log's pages over one sorted set per
filter, integration health counters, groups, kept webhooks; resend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import cast

import orjson

from relay.core.groups import GroupState
from relay.core.jobs import Job
from relay.store.base import (
    STATS_BUCKET,
    IntegrationStats,
    JobPage,
    JobQuery,
    KeptWebhook,
    hour_and_day_buckets,
    stats_bucket,
)
from relay.store.redis.common import LOG_BATCH, LOG_SCAN_LIMIT, num
from relay.store.redis.connection import RedisBase


class RedisConsole(RedisBase):
    # -- the console -------------------------------------------------------------------
    def _log_indexes(self, query: JobQuery) -> list[str]:
        """The zsets (score created_at) whose members all pass one filter of ``query``."""
        indexes = []
        if query.status is not None:
            indexes.append(self._key("jobs:status", query.status))
        for name, value in (
            ("jobs:receiver", query.receiver),
            ("jobs:integration", query.integration),
            ("jobs:group", query.group_key),
            ("jobs:alertname", query.alertname),
        ):
            if value is not None:
                indexes.append(self._key(name, value))
        return indexes or [self._key("jobs:all")]

    async def _walk(
        self, index: str, query: JobQuery, batch: int = LOG_BATCH
    ) -> AsyncIterator[list[tuple[str, float]]]:
        """(id, created_at) of ``index`` in log order (created_at, then id, descending),
        strictly after the cursor and within since/until, in batches."""
        client = self.client
        low = num(query.since) if query.since is not None else "-inf"
        high = num(query.until) if query.until is not None else "+inf"
        if query.cursor is not None:
            score, last_id = query.cursor
            if query.until is None or score <= query.until:
                # The rest of the cursor's own score first (the same created_at: one
                # webhook's notifications), then strictly older ones.
                offset = 0
                while True:
                    ids = cast(
                        list[str],
                        await client.zrevrangebyscore(index, num(score), num(score), start=offset, num=batch),
                    )
                    yield [(i, score) for i in ids if i < last_id]
                    if len(ids) < batch:
                        break
                    offset += batch
                high = "(" + num(score)
        offset = 0
        while True:
            rows = cast(
                list[tuple[str, float]],
                await client.zrevrangebyscore(index, high, low, start=offset, num=batch, withscores=True),
            )
            yield rows
            if len(rows) < batch:
                return
            offset += batch

    async def query_jobs(self, query: JobQuery) -> JobPage:
        """Walk the smallest index among the query's filters and check the others on each
        job. The walk reads at most LOG_SCAN_LIMIT entries per page: past that the page
        ends short, with a cursor where the walk stopped (JobPage says so)."""
        with self._guard():
            indexes = self._log_indexes(query)
            if len(indexes) > 1:
                async with self.client.pipeline(transaction=False) as pipe:
                    for index in indexes:
                        pipe.zcard(index)
                    sizes: list[int] = await pipe.execute()
                index = indexes[sizes.index(min(sizes))]
            else:
                index = indexes[0]
            found: list[Job] = []
            scanned = 0
            position: tuple[float, str] | None = None
            # With one filter every entry of its index matches: read just one page's worth.
            batch = query.limit + 1 if len(indexes) == 1 else LOG_BATCH
            async for rows in self._walk(index, query, batch):
                for job in await self._jobs([job_id for job_id, _ in rows]):
                    if query.admits(job):
                        found.append(job)
                        if len(found) > query.limit:
                            last = found[query.limit - 1]
                            return JobPage(found[: query.limit], (last.created_at, last.id))
                if rows:
                    scanned += len(rows)
                    position = (rows[-1][1], rows[-1][0])
                    if scanned >= LOG_SCAN_LIMIT:
                        return JobPage(found, position)
            return JobPage(found, None)

    async def resend(self, job_id: str, new_id: str, now: float, by: str) -> Job | None:
        on_original = {"action": "resend", "by": by, "at": now, "job": new_id}
        on_new = {"action": "resent_from", "by": by, "at": now, "job": job_id}
        with self._guard():
            done = await self._script(
                "resend",
                [
                    self.prefix,
                    job_id,
                    new_id,
                    num(now),
                    orjson.dumps(on_original).decode(),
                    orjson.dumps(on_new).decode(),
                ],
            )
        return await self.get_job(new_id) if done else None

    async def integration_stats(self, now: float) -> dict[str, IntegrationStats]:
        hour, day = hour_and_day_buckets(now)
        buckets = list(range(day, stats_bucket(now) + 1, STATS_BUCKET))
        stats: dict[str, IntegrationStats] = {}
        with self._guard():
            client = self.client
            async with client.pipeline(transaction=False) as pipe:
                for bucket in buckets:
                    pipe.hgetall(self._key("stats", str(bucket)))
                pipe.hgetall(self._key("last"))
                pipe.smembers(self._key("console:integrations"))
                *counted, last, integrations = await pipe.execute()
            for bucket, counters in zip(buckets, counted, strict=True):
                for name, value in cast(dict[str, str], counters).items():
                    kind, _, integration = name.partition(":")
                    entry = stats.setdefault(integration, IntegrationStats())
                    if kind == "d":
                        entry.day_delivered += int(value)
                        entry.hour_delivered += int(value) if bucket >= hour else 0
                    else:
                        entry.day_failed += int(value)
                        entry.hour_failed += int(value) if bucket >= hour else 0
            for integration, raw in cast(dict[str, str], last).items():
                seen = orjson.loads(raw)
                entry = stats.setdefault(integration, IntegrationStats())
                entry.last_at, entry.last_outcome = seen["at"], seen["outcome"]
                entry.last_reason, entry.last_error = seen["reason"], seen["error"]
            names = sorted(cast(set[str], integrations))
            async with client.pipeline(transaction=False) as pipe:
                for integration in names:
                    pipe.zcard(self._key("open", integration))
                    pipe.zrange(self._key("open", integration), 0, 0, withscores=True)
                    pipe.zcard(self._key("dead", integration))
                answers = await pipe.execute()
        for i, integration in enumerate(names):
            queue, oldest, dead = answers[3 * i : 3 * i + 3]
            if not (queue or dead or integration in stats):
                continue
            entry = stats.setdefault(integration, IntegrationStats())
            entry.queue, entry.dead = int(queue), int(dead)
            entry.oldest_queued_at = float(oldest[0][1]) if oldest else None
        return stats

    async def list_groups(
        self, after: str | None, limit: int, receiver: str | None = None
    ) -> tuple[list[GroupState], str | None]:
        """Groups by key from ``groups:all`` (one score, so in key order); a receiver
        filter reads at most LOG_SCAN_LIMIT groups per page."""
        found: list[GroupState] = []
        scanned = 0
        start = "(" + after if after is not None else "-"
        with self._guard():
            client = self.client
            while True:
                keys = cast(
                    list[str],
                    await client.zrangebylex(self._key("groups:all"), start, "+", start=0, num=LOG_BATCH),
                )
                if not keys:
                    return found, None
                raws = cast(list[str | None], await client.mget([self._gk(k) for k in keys]))
                for raw in raws:
                    if raw is None:
                        continue
                    state = GroupState.from_dict(orjson.loads(raw))
                    if receiver is None or state.receiver == receiver:
                        found.append(state)
                        if len(found) > limit:
                            return found[:limit], found[limit - 1].key
                scanned += len(keys)
                start = "(" + keys[-1]
                if scanned >= LOG_SCAN_LIMIT and len(keys) == LOG_BATCH:
                    return found, keys[-1]

    async def keep_webhooks(self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int) -> None:
        with self._guard():
            for webhook in webhooks:
                entry = orjson.dumps(
                    {
                        "id": webhook.id,
                        "received_at": webhook.received_at,
                        "receiver": webhook.receiver,
                        "body": webhook.body,
                    }
                )
                size = len(webhook.body.encode("utf-8"))
                await self._script(
                    "keep_webhook", [self.prefix, f"{size} {entry.decode()}", str(keep), str(keep_bytes)]
                )

    async def recent_webhooks(self) -> list[KeptWebhook]:
        with self._guard():
            items = cast(list[str], await self.client.lrange(self._key("webhooks"), 0, -1))
        kept = []
        for item in items:
            data = orjson.loads(item.partition(" ")[2])
            kept.append(KeptWebhook(data["id"], data["received_at"], data["receiver"], data["body"]))
        return kept
