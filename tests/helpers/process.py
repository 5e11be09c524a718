"""Start and stop a real `relay serve` process on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def system_env() -> dict[str, str]:
    """The environment for the machine's own servers (redis-server, Prometheus, ...):
    without a shifted clock preloaded (libfaketime breaks redis-server's allocator), since
    only relay's code is under test when the suite runs with the clock moved."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "LD_PRELOAD" and not name.startswith("FAKETIME")
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RelayProcess:
    def __init__(
        self,
        config_path: Path,
        port: int | None = None,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config_path = config_path
        self.port = port or free_port()
        self.log_path = log_path or config_path.with_suffix(f".{self.port}.{id(self):x}.log")
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> RelayProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "relay",
                "serve",
                "--config",
                str(self.config_path),
                "--listen",
                f"127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=self.config_path.parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"relay did not become ready: {self.log()}")

    def jobs(self) -> list[dict[str, Any]]:
        """The delivery log (GET /api/v1/notifications), newest first, up to 1,000 jobs."""
        answer = httpx.get(f"{self.url}/api/v1/notifications", params={"limit": 1000}, timeout=5)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["notifications"])

    def settled_jobs(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The delivery log once it holds `count` jobs and none is pending or running.

        A vendor fake records a request before relay reads the answer and marks the job
        delivered, so "the fake saw it" is not yet "relay logged it": tests that check
        the log after the fake wait here rather than read it at once."""
        jobs: list[dict[str, Any]] = []

        def settled() -> bool:
            nonlocal jobs
            jobs = self.jobs()
            return len(jobs) >= count and not any(j["status"] in ("pending", "running") for j in jobs)

        wait_for(settled, timeout)
        return jobs

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM and wait; True when relay shut down gracefully (uvicorn re-raises the
        signal after its graceful shutdown, so the exit status itself is -SIGTERM)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return False
        return code in (0, -signal.SIGTERM) and "relay stopped" in self.log()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
