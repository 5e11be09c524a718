"""Redis Sentinel and replicated acknowledgement against real processes: a primary, a
replica and three sentinels on loopback (tests.helpers.sentinel).

- ``redis+sentinel://`` URLs: each part checked and named in errors, passwords masked;
  an unknown scheme names every scheme relay takes;
- a ``redis://`` URL pointed at a sentinel's port says so and what to write instead;
- the store follows a failover by itself: writes before it are there after it (with
  ``min_replicas_acked: 1``), and writes go on to the new primary;
- ``min_replicas_acked``: a write the replica has not taken within the timeout is a
  StoreUnavailable (the webhook's 503), also when the write was made by an earlier try
  and the retry finds nothing to write.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.config.sections import StorageConfig
from relay.config.storage import parse_redis_url
from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.store import open_store
from relay.store.redis import RedisStore
from relay.store.redis.connection import Replication
from tests.conftest import require_binary
from tests.helpers.process import free_port, system_env
from tests.helpers.redis_server import RedisServer
from tests.helpers.sentinel import SERVICE, SentinelProcess, SentinelSet
from tests.helpers.tls import self_signed


# -- URLs -----------------------------------------------------------------------------------
def test_a_sentinel_url_is_read_into_its_parts() -> None:
    parsed = parse_redis_url("rediss+sentinel://app:p%40ss@s1:26379,[::1]:26380,s3/mymaster/2?prefix=a:")
    target = parsed.sentinel
    assert target is not None
    assert target.sentinels == (("s1", 26379), ("::1", 26380), ("s3", 26379))
    assert (target.service, target.db, target.username, target.password, target.tls) == (
        "mymaster",
        2,
        "app",
        "p@ss",
        True,
    )
    assert parsed.prefix == "a:"
    store = RedisStore.from_url("redis+sentinel://:s3cret@s1:26379/mymaster")
    assert "s3cret" not in store.describe() and "service 'mymaster'" in store.describe()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://s1:26379", "the service name is missing"),
        ("redis+sentinel://s1:26379,s2:port/m", "sentinel 2 ('s2:port'): the port is not a number"),
        ("redis+sentinel://s1:26379,:26379/m", "sentinel 2 has no host"),
        ("redis+sentinel://s1/m/zero", "the database after the service must be a number"),
        ("redis+sentinel://:pw@s1/m?nope=1", "storage.url 'redis+sentinel://:***@s1/m?nope=1'"),
        ("redis+sentinel:///m", "no sentinels"),
    ],
)
def test_a_bad_sentinel_url_names_its_part(url: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_redis_url(url)
    assert problem in str(caught.value)


def test_an_unknown_scheme_names_what_relay_takes() -> None:
    with pytest.raises(ValueError) as caught:
        StorageConfig(url="sentinel://s1:26379/mymaster")
    text = str(caught.value)
    for scheme in ("sqlite:///", "redis://", "rediss://", "unix://", "redis+sentinel://"):
        assert scheme in text, scheme


def test_replication_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="min_replicas_acked needs Redis replicas"):
        StorageConfig(url="sqlite:///x.db", min_replicas_acked=1)
    with pytest.raises(ValueError, match="sentinel_password is for a redis\\+sentinel:// url"):
        StorageConfig(url="redis://h/0", sentinel_password="x")
    config = StorageConfig(url="redis+sentinel://:pw@s1/m", sentinel_password="sp")
    assert set(config.secrets()) == {"pw", "sp"}


# -- real processes ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sentinels() -> Iterator[SentinelSet]:
    with SentinelSet(require_binary("redis-server")) as found:
        yield found


def bump(key: str, by: str) -> GroupUpdate:
    """A transition that records ``by`` on group ``key``'s timeline (creating it)."""

    def transition(state: GroupState | None) -> TransitionResult:
        state = state or GroupState(key=key, receiver="r", route_id="0", labels={}, created_at=1.0)
        state.timeline.append({"at": 1.0, "event": by})
        return TransitionResult(state)

    return GroupUpdate(key, transition)


def nothing(key: str) -> GroupUpdate:
    return GroupUpdate(key, lambda state: TransitionResult(state, changed=False))


async def test_a_redis_url_at_a_sentinel_port_says_what_to_write(sentinels: SentinelSet) -> None:
    port = sentinels.sentinels[0].port
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    text = str(caught.value)
    assert "is a Redis Sentinel, not a Redis server" in text
    assert f"redis+sentinel://127.0.0.1:{port}/{SERVICE}" in text


async def test_writes_follow_a_failover_and_nothing_acknowledged_is_lost() -> None:
    with SentinelSet(require_binary("redis-server")) as fresh:
        store = open_store(StorageConfig(url=fresh.url + "?prefix=fo:", min_replicas_acked=1))
        await store.open()
        try:
            await store.apply([bump(f"g{i}", "before") for i in range(20)])
            old = fresh.primary_port()
            fresh.kill9_primary()
            deadline = time.monotonic() + 30
            while fresh.primary_port() != fresh.replica.port:  # the sentinels promote the replica
                assert time.monotonic() < deadline, "no new primary in 30 s"
                await asyncio.sleep(0.1)
            # The new primary has no replica yet: a write is not acknowledged, as it
            # would be lost with it (until every sentinel says where the primary is, a try
            # may still meet the dead one: unavailable too).
            while True:
                with pytest.raises(StoreUnavailable) as caught:
                    await store.apply([bump("g0", "alone")])
                if "reached 0 of 1 replicas" in str(caught.value):
                    break
                assert time.monotonic() < deadline, str(caught.value)
                await asyncio.sleep(0.1)
            fresh.primary.start()  # the old primary comes back; the sentinels make it a replica
            while True:
                try:
                    await store.apply([bump("g0", "after")])
                    break
                except StoreUnavailable:
                    assert time.monotonic() < deadline, "the old primary did not follow in 30 s"
                    await asyncio.sleep(0.2)
            assert fresh.primary_port() == fresh.replica.port != old
            for i in range(20):  # each write acknowledged before the failover is there
                group = await store.get_group(f"g{i}")
                assert group is not None and group.timeline[0]["event"] == "before"
            group = await store.get_group("g0")
            events = [e["event"] for e in group.timeline] if group is not None else []
            # Unacknowledged tries were written too (their retries find them): never lost.
            assert events[0] == "before" and events[-1] == "after" and set(events[1:-1]) <= {"alone", "after"}
        finally:
            await store.close()


async def test_a_write_the_replica_has_not_taken_is_not_acknowledged() -> None:
    binary = require_binary("redis-server")
    with RedisServer(binary=binary) as primary:
        replica = RedisServer(binary=binary, args=["--replicaof", "127.0.0.1", str(primary.port)])
        with replica:
            store = RedisStore.from_url(f"{primary.url}?prefix=w:", replication=Replication(1, 0.3))
            await store.open()
            try:
                deadline = time.monotonic() + 10
                while True:  # the replica has synced
                    try:
                        await store.apply([bump("g", "synced")])
                        break
                    except StoreUnavailable:
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.1)
                assert replica.proc is not None
                os.kill(replica.proc.pid, signal.SIGSTOP)  # the replica stops answering
                try:
                    with pytest.raises(StoreUnavailable, match=r"reached 0 of 1 replicas within 0\.3s"):
                        await store.apply([bump("g", "first try")])
                    # The retry finds its write already made: still not acknowledged.
                    with pytest.raises(StoreUnavailable, match="of 1 replicas"):
                        await store.apply([nothing("g")])
                finally:
                    os.kill(replica.proc.pid, signal.SIGCONT)
                await store.apply([nothing("g")])  # the replica caught up: acknowledged
                group = await store.get_group("g")
                events = [e["event"] for e in group.timeline] if group is not None else []
                assert events[-1] == "first try" and set(events[:-1]) == {"synced"}  # tries until synced
            finally:
                await store.close()


def test_relay_serve_at_a_sentinel_port_stops_with_the_reason(sentinels: SentinelSet, tmp_path: Path) -> None:
    port = sentinels.sentinels[0].port
    config = tmp_path / "relay.yml"
    config.write_text(
        f"storage: {{url: 'redis://127.0.0.1:{port}/0'}}\n"
        "route: {receiver: r}\nreceivers: [{name: r, log_configs: [{}]}]\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "relay",
            "serve",
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=system_env(),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert (
        f"is a Redis Sentinel, not a Redis server: write storage.url: redis+sentinel://127.0.0.1:{port}/{SERVICE}"
        in done.stderr
    )


async def test_tls_to_the_sentinels_and_the_primary(tmp_path: Path) -> None:
    """rediss+sentinel://: the sentinel is asked over TLS and names the primary's TLS
    port, which relay reaches over TLS too; without the CA neither is trusted."""
    binary = require_binary("redis-server")
    cert, key = self_signed(require_binary("openssl"), tmp_path)
    tls = ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert)]
    primary_tls = free_port()
    primary = RedisServer(
        binary=binary, args=["--tls-port", str(primary_tls), *tls, "--tls-auth-clients", "no"]
    )
    with primary:
        sentinel_tls = free_port()
        sentinel = SentinelProcess(binary, tmp_path / "sentinel", primary_tls, 1000)
        conf = sentinel.config.read_text().replace(
            f"{SERVICE} 127.0.0.1 {primary_tls} 2", f"{SERVICE} 127.0.0.1 {primary_tls} 1"
        )
        conf += (
            f"tls-port {sentinel_tls}\ntls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {cert}\n"
            "tls-auth-clients no\ntls-replication yes\n"
        )
        sentinel.config.write_text(conf)
        sentinel.start()
        try:
            url = f"rediss+sentinel://127.0.0.1:{sentinel_tls}/{SERVICE}"
            store = RedisStore.from_url(f"{url}?ssl_ca_certs={cert}&prefix=tls:")
            await store.open()
            try:
                await store.set_ref("slack:g", {"ts": "1"}, ttl=60)
                assert await store.get_ref("slack:g") == {"ts": "1"}
            finally:
                await store.close()
            untrusted = RedisStore.from_url(url)
            await untrusted.open()  # unreachable counts as "wait": not ready, not refused
            try:
                with pytest.raises(StoreUnavailable, match="certificate"):
                    await untrusted.ping()
            finally:
                await untrusted.close()
        finally:
            sentinel.stop()
