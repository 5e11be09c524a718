"""The job queue on Redis: claiming on the stream under a lease, renewing, releasing,
recording attempts, storm merges; counts."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import cast

import orjson

from relay.core.errors import StoreUnavailable
from relay.core.jobs import JOB_STATUSES, Attempt, Job, JobStatus, NewJob, alertnames_of, attempt_effect
from relay.store.base import (
    STATS_KEEP,
    ClaimRoom,
    stats_bucket,
)
from relay.store.redis.common import job_of, num, pairs
from relay.store.redis.connection import RedisBase

logger = logging.getLogger("relay.store.redis")


class RedisJobs(RedisBase):
    # -- jobs --------------------------------------------------------------------------
    async def claim_jobs(
        self,
        owner: str,
        now: float,
        limit: int,
        lease: float,
        exclude_integrations: Collection[str] = (),
        *,
        per_integration: int | None = None,
        held: Mapping[str, int] | None = None,
    ) -> list[Job]:
        if limit <= 0:
            return []
        room = ClaimRoom(limit, frozenset(exclude_integrations), per_integration, held or {})
        args = [self.prefix, owner, num(now), str(int(limit)), num(now + lease), str(room.unlisted)]
        for integration, n in room.listed().items():
            args += [integration, str(n)]
        with self._guard():
            rows = await self._script("claim", args)
        return [job_of(pairs(row)) for row in rows]

    async def count_due(self, integration: str, now: float) -> int:
        with self._guard():
            return int(await self.client.zcount(self._key("due", integration), "-inf", num(now)))

    async def claim_integration(
        self, owner: str, integration: str, now: float, limit: int, lease: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        # The claim script with a room of 0 for every integration but this one.
        args = [
            self.prefix,
            owner,
            num(now),
            str(int(limit)),
            num(now + lease),
            "0",
            integration,
            str(int(limit)),
        ]
        with self._guard():
            rows = await self._script("claim", args)
        return [job_of(pairs(row)) for row in rows]

    async def merge_into_digest(
        self, owner: str, digest: NewJob, merged: Collection[str], now: float
    ) -> bool:
        attempt = Attempt(
            at=now,
            duration=0.0,
            outcome="delivered",
            reason="digest",
            detail=f"merged into digest {digest.id}",
        )
        args = [
            self.prefix,
            owner,
            num(now),
            orjson.dumps(attempt.to_dict()).decode(),
            digest.id,
            digest.receiver,
            digest.integration,
            digest.group_key,
            orjson.dumps(digest.payload).decode(),
            num(digest.created_at),
            "\n".join(alertnames_of(digest.payload)),
            *merged,
        ]
        with self._guard():
            done = await self._script("merge", args)
        return bool(done)

    async def renew(self, owner: str, job_ids: Collection[str], until: float) -> None:
        if not job_ids:
            return
        with self._guard():
            await self._script("renew", [self.prefix, owner, num(until), *job_ids])

    async def release(self, owner: str, job_ids: Collection[str], at: float | None = None) -> None:
        if not job_ids:
            return
        with self._guard():
            await self._script("release", [self.prefix, owner, "" if at is None else num(at), *job_ids])

    async def record_attempt(self, job: Job, attempt: Attempt, next_attempt_at: float | None = None) -> None:
        effect = attempt_effect(attempt, next_attempt_at)
        last = {
            "at": attempt.at,
            "outcome": attempt.outcome,
            "reason": attempt.reason,
            "error": attempt.error,
        }
        args = [
            self.prefix,
            job.id,
            orjson.dumps(attempt.to_dict()).decode(),
            attempt.outcome,
            num(attempt.at),
            effect.last_error,
            "" if effect.next_attempt_at is None else num(effect.next_attempt_at),
            str(stats_bucket(attempt.at)),
            str(STATS_KEEP),
            orjson.dumps(last).decode(),
            effect.status,
        ]
        with self._guard():
            await self._script("record", args)
        try:
            # A delivery recorded on a primary that is lost before a replica has it would
            # be sent again after a failover: wait for it as for a webhook. The message is
            # out either way, so a replica that does not answer is only logged.
            await self._replicated("the delivery record")
        except StoreUnavailable as exc:
            logger.warning("%s: a failover now could send job %s again", exc, job.id)

    async def requeue(self, job_id: str, now: float, by: str | None = None) -> bool:
        # The dispatcher restarts its retry window at the latest "requeued" attempt.
        marker = Attempt(at=now, duration=0.0, outcome="retry", reason="requeued").to_dict()
        action = orjson.dumps({"action": "retry", "by": by, "at": now}).decode() if by is not None else ""
        with self._guard():
            done = await self._script(
                "requeue", [self.prefix, job_id, num(now), orjson.dumps(marker).decode(), action]
            )
        return bool(done)

    async def list_jobs(
        self, status: JobStatus | None = None, limit: int = 100, receiver: str | None = None
    ) -> list[Job]:
        if limit <= 0:
            return []
        with self._guard():
            client = self.client
            if status is None and receiver is None:
                index = self._key("jobs:all")
            elif receiver is None:
                index = self._key("jobs:status", str(status))
            elif status is None:
                index = self._key("jobs:receiver", receiver)
            else:
                # Both filters: walk the smaller index and check the other field.
                by_status = self._key("jobs:status", status)
                by_receiver = self._key("jobs:receiver", receiver)
                sizes = await client.zcard(by_status), await client.zcard(by_receiver)
                index = by_status if sizes[0] <= sizes[1] else by_receiver
            found: list[Job] = []
            start, page = 0, max(limit, 100)
            while len(found) < limit:
                ids = cast(list[str], await client.zrevrange(index, start, start + page - 1))
                if not ids:
                    break
                for job in await self._jobs(ids):
                    if (status is None or job.status == status) and (
                        receiver is None or job.receiver == receiver
                    ):
                        found.append(job)
                start += page
            return found[:limit]

    async def job_counts(self) -> dict[str, int]:
        with self._guard():
            async with self.client.pipeline(transaction=True) as pipe:
                for status in JOB_STATUSES:
                    pipe.zcard(self._key("jobs:status", status))
                counts: list[int] = await pipe.execute()
        return dict(zip(JOB_STATUSES, counts, strict=True))
