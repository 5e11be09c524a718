"""A Redis primary, one replica and three sentinels, all real processes on loopback: what
a three-node Sentinel deployment looks like, shrunk onto one machine. Sentinels decide a
primary is down after ``down_after`` ms and fail over with a quorum of two."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.helpers.process import system_env
from tests.helpers.redis_server import RedisServer, _answers_ping, _free_port

SERVICE = "relaytest"


class SentinelProcess:
    def __init__(self, binary: str, directory: Path, primary_port: int, down_after: int) -> None:
        self.port = _free_port()
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "sentinel.conf"
        # The config file is Sentinel's own state: it rewrites it as it learns.
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndaemonize no\ndir {self.dir}\n"
            f"logfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {down_after}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, str(self.config), "--sentinel"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=system_env(),
        )
        deadline = time.monotonic() + 10
        while not _answers_ping(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"sentinel on {self.port} did not start: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        path = self.dir / "sentinel.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


class SentinelSet:
    """``primary``, ``replica`` and three ``sentinels``; ``url`` is relay's storage.url."""

    def __init__(self, binary: str, *, down_after: int = 1000, appendonly: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="relay-sentinel-"))
        (self.dir / "primary").mkdir()
        (self.dir / "replica").mkdir()
        self.primary = RedisServer(binary=binary, appendonly=appendonly, data_dir=self.dir / "primary")
        self.replica = RedisServer(
            binary=binary,
            appendonly=appendonly,
            data_dir=self.dir / "replica",
            args=["--replicaof", "127.0.0.1", str(self.primary.port)],
        )
        self.sentinels = [
            SentinelProcess(binary, self.dir / f"sentinel{i}", self.primary.port, down_after)
            for i in range(3)
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, decode_responses=True)

    def start(self) -> SentinelSet:
        self.primary.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_settled(self.primary.port)
        return self

    def primary_port(self) -> int | None:
        """The primary's port as the sentinels name it (None while they name none)."""
        for sentinel in self.sentinels:
            try:
                found = self.client(sentinel.port).sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                continue
            if found:
                return int(found[1])
        return None

    def wait_settled(self, primary: int, timeout: float = 30.0) -> None:
        """Until the replica follows ``primary`` and every sentinel knows it, the replica
        and the two other sentinels (a failover needs all three)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready = all(
                    (info := self.client(s.port).sentinel_master(SERVICE))["port"] == primary
                    and info["num-slaves"] >= 1
                    and info["num-other-sentinels"] >= 2
                    for s in self.sentinels
                )
                replica = self.replica if self.primary.port == primary else self.primary
                link = self.client(replica.port).info("replication").get("master_link_status")
            except (redis.RedisError, KeyError):
                ready, link = False, None
            if ready and link == "up":
                return
            time.sleep(0.1)
        raise RuntimeError("sentinels did not settle: " + " | ".join(s.log()[-500:] for s in self.sentinels))

    def kill9_primary(self) -> None:
        proc = self.primary.proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        self.primary.proc = None

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SentinelSet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
