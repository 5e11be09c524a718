"""The connection to Redis: opening it (the layout check and upgrades, the scripts),
plumbing every part uses (key names, errors as StoreUnavailable), and reading jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self, cast
from urllib.parse import urlsplit

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from relay.config.storage import DEFAULT_PREFIX, SentinelTarget, masked_url, parse_redis_url
from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState
from relay.core.jobs import Job, alertnames_of
from relay.store.redis.common import LOCK_STRIPES, SCHEMA_VERSION, fixable_by_waiting, job_of
from relay.store.redis.lua import SCRIPTS, script_source

logger = logging.getLogger("relay.store.redis")


@dataclass(frozen=True)
class Replication:
    """``storage.min_replicas_acked``: how many replicas a write must reach (WAIT) before
    relay counts it done, and how long it waits for them."""

    replicas: int = 0
    timeout: float = 1.0


class RedisBase:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        options: dict[str, Any] | None = None,
        instance: str = "relay",
        sentinel: SentinelTarget | None = None,
        sentinel_password: str | None = None,
        replication: Replication | None = None,
    ) -> None:
        self.url = url  # without our own query options
        self.prefix = prefix
        self.instance = instance
        self._options = options or {}
        self.sentinel = sentinel
        self._sentinel_password = sentinel_password
        self.replication = replication or Replication()
        self._client: aioredis.Redis | None = None
        self._locks: list[asyncio.Lock] = []
        self._scripts: dict[str, Any] = {}
        self._layout_checked = False
        self.probing = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        instance: str = "relay",
        sentinel_password: str | None = None,
        replication: Replication | None = None,
    ) -> Self:
        parsed = parse_redis_url(url)
        return cls(
            parsed.url,
            prefix=parsed.prefix,
            options=parsed.options,
            instance=instance,
            sentinel=parsed.sentinel,
            sentinel_password=sentinel_password,
            replication=replication,
        )

    # -- plumbing --------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _gk(self, group_key: str) -> str:
        return self.prefix + "g:" + group_key

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Every Redis failure is a StoreUnavailable naming the server (no password)."""
        try:
            yield
        except StoreUnavailable:
            raise
        except (RedisError, OSError) as exc:
            text = str(exc) or type(exc).__name__
            raise StoreUnavailable(f"redis {self.describe()}: {text}") from exc

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreUnavailable(f"redis {self.describe()}: store is closed")
        return self._client

    async def _script(self, name: str, args: Sequence[str]) -> Any:
        # redis-py sends EVALSHA and loads the script again after a Redis restart.
        return await self._scripts[name](keys=[], args=list(args), client=self.client)

    # -- lifecycle -------------------------------------------------------------------
    def prepare(self) -> None:
        """Before serving: what waiting cannot fix (a wrong password, a sentinel's port
        in a redis:// URL, a newer layout) stops relay here with the reason, instead of
        inside the server's start-up. Redis down is not such a thing: open() waits."""

        async def probe() -> None:
            trial = type(self)(
                self.url,
                prefix=self.prefix,
                options=self._options,
                instance=self.instance,
                sentinel=self.sentinel,
                sentinel_password=self._sentinel_password,
                replication=self.replication,
            )
            trial.probing = True  # open() proper says what it has to say about persistence
            try:
                await trial.open()
            finally:
                await trial.close()

        asyncio.run(probe())

    async def open(self) -> None:
        if self._client is not None:
            return
        options = {
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
            "client_name": f"relay:{self.instance}",
            **self._options,
        }
        # A pooled connection broken by a Redis restart fails once; one quick retry on a
        # new connection hides that. When Redis is down, callers learn it in well under
        # a second (ingest answers 503) instead of waiting through long backoffs.
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), 2, supported_errors=(RedisConnectionError,))
        if self.sentinel is not None:
            self._client = self._through_sentinels(self.sentinel, retry, options)
        else:
            self._client = aioredis.Redis.from_url(
                self.url, decode_responses=True, retry=retry, retry_on_timeout=False, **options
            )
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]
        self._scripts = {name: self._client.register_script(script_source(name)) for name in SCRIPTS}
        try:
            await self._check_layout()
        except StoreUnavailable as exc:
            if fixable_by_waiting(exc.__cause__):
                # Redis is down or restarting: start anyway, not ready (/-/ready pings)
                # until it answers, so replicas and Redis may start in any order.
                if not self.probing:  # said once, by the store that serves
                    logger.warning("redis unreachable at start; not ready until it answers: %s", exc)
            else:
                await self.close()
                raise
        except BaseException:
            await self.close()
            raise
        # Leases of a previous run of this replica expire and are taken over like those
        # of any other replica: nothing to hand back here.

    def _through_sentinels(
        self, target: SentinelTarget, retry: Retry, options: dict[str, Any]
    ) -> aioredis.Redis:
        """A client of the primary the sentinels name. Each new connection asks them
        where it is; a connection to a primary since demoted (READONLY) is dropped and
        the command retried on the new one; while they name none, commands fail
        (StoreUnavailable: 503 with Retry-After) until they do."""
        tls = {k: v for k, v in options.items() if k.startswith("ssl_")}
        asking: dict[str, Any] = {
            "socket_timeout": options["socket_timeout"],
            "socket_connect_timeout": options["socket_connect_timeout"],
        }
        if target.tls:
            asking.update(ssl=True, **tls)
        if self._sentinel_password:
            asking["password"] = self._sentinel_password
        sentinels = Sentinel(list(target.sentinels), sentinel_kwargs=asking)
        primary: dict[str, Any] = {"db": target.db, "username": target.username, "password": target.password}
        if target.tls:
            primary["ssl"] = True
        return cast(
            aioredis.Redis,
            sentinels.master_for(
                target.service,
                redis_class=aioredis.Redis,
                decode_responses=True,
                retry=retry,
                retry_on_timeout=False,
                **primary,
                **options,
            ),
        )

    async def _replicated(self, what: str) -> None:
        """With ``min_replicas_acked``: wait until the writes so far reached that many
        replicas, else StoreUnavailable (a webhook is answered 503, Alertmanager sends it
        again). A small write and WAIT on one connection: Redis replicates in order, so
        a replica that has this write has every write before it, whichever connection
        made them (WAIT alone only counts its own connection's writes)."""
        wanted = self.replication.replicas
        if not wanted:
            return
        with self._guard():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.incr(self._key("fence"))
                pipe.execute_command("WAIT", wanted, max(1, int(self.replication.timeout * 1000)))
                _, reached = await pipe.execute()
        if int(reached) < wanted:
            raise StoreUnavailable(
                f"redis {self.describe()}: {what} reached {reached} of {wanted} replicas within"
                f" {self.replication.timeout:g}s (storage.min_replicas_acked)"
            )

    async def _check_layout(self) -> None:
        """Mark a new key space with our layout version; refuse one newer than ours."""
        try:
            await self.client.set(self._key("schema"), SCHEMA_VERSION, nx=True)
        except ResponseError as exc:
            if "unknown command" in str(exc).lower():
                raise StoreUnavailable(await self._not_a_server()) from None
            raise StoreUnavailable(f"redis {self.describe()}: {exc}") from exc
        except (RedisError, OSError):
            pass  # said by the guarded read below, as any other failure
        with self._guard():
            version = cast(str | None, await self.client.get(self._key("schema")))
        if version is not None and int(version) > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"redis {self.describe()}: data layout version {version} is newer than this"
                f" relay supports ({SCHEMA_VERSION}); upgrade relay"
            )
        if version is not None and int(version) < 2:
            await self._index_resolved_groups()
        if version is not None and int(version) < 3:
            await self._index_for_console()
        self._layout_checked = True
        await self._warn_without_persistence()

    async def _not_a_server(self) -> str:
        """What to say when the URL names something that does not take SET: a Sentinel
        (the usual mistake: its port, 26379, in a redis:// URL)."""
        try:
            mode = (await self.client.info("server")).get("redis_mode", "")
            masters = await self.client.sentinel_masters() if mode == "sentinel" else {}
        except (RedisError, OSError):
            mode, masters = "", {}
        if mode != "sentinel":
            return f"redis {self.describe()}: this server does not take SET: is it Redis?"
        names = sorted(str(name) for name in masters) if isinstance(masters, dict) else []
        service = names[0] if names else "<service>"
        host = urlsplit(self.url).netloc.rpartition("@")[2]
        return (
            f"redis {self.describe()} is a Redis Sentinel, not a Redis server: write"
            f" storage.url: redis+sentinel://{host}/{service}"
            + (f" (it monitors: {', '.join(names)})" if names else "")
        )

    async def _warn_without_persistence(self) -> None:
        """A 200 is only as durable as Redis' persistence (docs/operations.md): say so at
        start when Redis keeps accepted alerts in memory only, or until its next snapshot."""
        if self.probing:
            return
        try:
            aof = (await self.client.info("persistence")).get("aof_enabled")
            save = (await self.client.config_get("save")).get("save", "")
        except RedisError:
            return  # CONFIG is often disabled on managed Redis: nothing to tell
        if aof:
            return
        if not save:
            logger.warning(
                "redis %s has no persistence (appendonly no, no save points): a Redis"
                " restart loses every accepted alert; set appendonly yes",
                self.describe(),
            )
        else:
            logger.warning(
                "redis %s persists by snapshots only (save %s, appendonly no): a Redis"
                " crash loses the alerts accepted since the last snapshot; set"
                " appendonly yes",
                self.describe(),
                save,
            )

    async def _index_resolved_groups(self) -> None:
        """Layout 1 -> 2: index groups without a firing alert in ``groups:resolved``
        (layout 1 indexed only groups without any alert, in ``groups:empty``). Idempotent:
        replicas starting together may both run it."""
        resolved = self._key("groups:resolved")
        with self._guard():
            client = self.client
            async for gk in client.scan_iter(match=self._gk("*"), count=500):
                raw = await client.get(gk)
                if raw is None:
                    continue
                state = GroupState.from_dict(orjson.loads(raw))
                if not state.kept_count():
                    await client.zadd(resolved, {state.key: state.updated_at})
            await client.delete(self._key("groups:empty"))
            await client.set(self._key("schema"), 2)
        logger.info("redis layout upgraded to version 2 (resolved groups indexed for pruning)")

    async def _index_for_console(self) -> None:
        """Layout 2 -> 3: the console's indexes for the jobs and groups already stored.
        Idempotent (every index is a set), so replicas starting together may both run it."""
        with self._guard():
            client = self.client
            async for gk in client.scan_iter(match=self._gk("*"), count=500):
                await client.zadd(self._key("groups:all"), {gk[len(self._gk("")) :]: 0})
            batch: list[str] = []
            async for job_id, _ in client.zscan_iter(self._key("jobs:all"), count=500):
                batch.append(job_id)
                if len(batch) == 500:
                    await self._index_old_jobs(batch)
                    batch = []
            await self._index_old_jobs(batch)
            await client.set(self._key("schema"), SCHEMA_VERSION)
        logger.info("redis layout upgraded to version %d (indexes for the console)", SCHEMA_VERSION)

    async def _index_old_jobs(self, ids: list[str]) -> None:
        if not ids:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self._key("j", job_id), "payload")
            payloads: list[str | None] = await pipe.execute()
        async with self.client.pipeline(transaction=False) as pipe:
            for job_id, payload in zip(ids, payloads, strict=True):
                if payload is not None:
                    names = alertnames_of(orjson.loads(payload))
                    pipe.hset(self._key("j", job_id), mapping={"alertnames": "\n".join(names)})
            await pipe.execute()
        await self._script("index_old", [self.prefix, *ids])

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def ping(self) -> None:
        if not self._layout_checked:
            await self._check_layout()  # Redis was down when relay started
            return
        with self._guard():
            await self.client.ping()

    def describe(self) -> str:
        if self.sentinel is not None:
            return f"{masked_url(self.url)} (service {self.sentinel.service!r}, prefix {self.prefix!r})"
        return f"{masked_url(self.url)} (prefix {self.prefix!r})"

    # -- reading jobs (the queue and the console) -----------------------------------
    async def get_job(self, job_id: str) -> Job | None:
        with self._guard():
            fields = cast(dict[str, str], await self.client.hgetall(self._key("j", job_id)))
        return job_of(fields) if fields else None

    async def _jobs(self, ids: Sequence[str]) -> list[Job]:
        if not ids:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self._key("j", job_id))
            rows: list[dict[str, str]] = await pipe.execute()
        return [job_of(row) for row in rows if row]  # pruned meanwhile: skipped
