"""Config files no check foresaw: each is refused with its place, in bounded time and
memory, by `relay check-config`, by `relay serve` at start and by a reload (POST
/-/reload and SIGHUP), which keeps the running config and sets
relay_config_last_reload_successful to 0. Never a traceback, never a 500 "internal error".
"""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.process import RelayProcess, wait_for

GOOD = "route: {receiver: a}\nreceivers: [{name: a, log_configs: [{}]}]\n"


def laughs() -> str:
    """YAML's "billion laughs": ten aliases, each repeating the one before ten times."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n" + GOOD


#: name -> (file content, what the error says: the place and the problem)
BAD: dict[str, tuple[bytes, list[str]]] = {
    "gbk-comment": (
        GOOD.encode() + "# 测试注释\n".encode("gbk"),
        ["relay.yml:3:3: not UTF-8 (byte 0xb2)", "save the file as UTF-8"],
    ),
    "utf-16": (codecs.BOM_UTF16_LE + GOOD.encode("utf-16-le"), ["saved as UTF-16: save it as UTF-8"]),
    "utf-32": (codecs.BOM_UTF32_LE + GOOD.encode("utf-32-le"), ["saved as UTF-32"]),
    "recursive-alias": (b"x: &x [1, *x]\n" + GOOD.encode(), ["x[1]: a YAML alias refers to a list"]),
    "nesting-300": (
        GOOD.encode() + b"x: " + b"[" * 300 + b"]" * 300 + b"\n",
        ["relay.yml:3:", "nested deeper"],
    ),
    "nesting-block": (
        GOOD.encode() + "".join(f"{'  ' * i}k{i}:\n" for i in range(100)).encode(),
        ["nested deeper than 64 levels"],
    ),
    "billion-laughs": (laughs().encode(), ["expands to more than 200000 values"]),
    "secret-from-dev-zero": (
        b"route: {receiver: a}\nreceivers: [{name: a, webhook_configs: "
        b'[{url: "http://127.0.0.1:9/x", bearer_token_file: /dev/zero}]}]\n',
        ["receivers[0].webhook_configs[0]", "bearer_token_file: /dev/zero is larger than 65536 bytes"],
    ),
    "template-glob-of-the-disk": (
        b"templates: ['/**/*']\n" + GOOD.encode(),
        ["templates[0]: '/**/*' matches more"],
    ),
    "not-a-mapping": (b"- just\n- a list\n", ["expected a mapping at the top level"]),
    "nul-bytes": (GOOD.encode() + b"\x00\x00", ["relay.yml"]),
}


def run_check(path: Path) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """`relay check-config` on ``path``: its result, seconds, and its own peak RSS in KB
    (wait4 reports this child alone, not the largest child the test run ever had)."""
    started = time.monotonic()
    argv = [sys.executable, "-m", "relay", "check-config", "--config", str(path)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        timer = threading.Timer(60, proc.kill)
        timer.start()
        try:
            stdout, stderr = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    return result, time.monotonic() - started, usage.ru_maxrss


@pytest.mark.parametrize("name", sorted(BAD))
def test_check_config_names_the_place_without_a_traceback(tmp_path: Path, name: str) -> None:
    content, expected = BAD[name]
    path = tmp_path / "relay.yml"
    path.write_bytes(content)
    result, seconds, max_rss_kb = run_check(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for words in expected:
        assert words in result.stderr, result.stderr
    assert seconds < 20
    assert max_rss_kb < 400_000  # kilobytes: the whole interpreter, far from 1.6 GB


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_a_reload_of_each_bad_file_keeps_the_running_config(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    storage = f'storage: {{url: "sqlite:///{tmp_path}/relay.db"}}\n'.encode()
    path.write_bytes(storage + GOOD.encode())
    good = path.read_bytes()
    relay = RelayProcess(path).start()
    try:
        for name, (content, expected) in sorted(BAD.items()):
            # The running storage.url, so that only the file's own problem remains (a file
            # that is not UTF-8 is refused before its storage.url is read).
            readable = not content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF32_LE)) and name not in (
                "gbk-comment",
                "not-a-mapping",
            )
            path.write_bytes(storage + content if readable else content)
            answer = httpx.post(f"{relay.url}/-/reload", timeout=30)
            assert answer.status_code == 500, (name, answer.text)
            details = " ".join(answer.json()["details"])
            assert "internal error" not in answer.text
            assert expected[-1] in details, (name, details)
            assert metric(relay.url, "relay_config_last_reload_successful") == 0, name
            path.write_bytes(good)
            assert httpx.post(f"{relay.url}/-/reload", timeout=30).status_code == 200
            assert metric(relay.url, "relay_config_last_reload_successful") == 1
        # SIGHUP: the same, through the log and the metric.
        path.write_bytes(BAD["gbk-comment"][0])
        relay.signal(1)
        assert wait_for(lambda: metric(relay.url, "relay_config_last_reload_successful") == 0, timeout=10)
        assert httpx.get(f"{relay.url}/-/healthy", timeout=5).status_code == 200
        log = relay.log()
        assert "Task exception was never retrieved" not in log
        assert "not UTF-8" in log
    finally:
        relay.stop()


@pytest.mark.parametrize("name", ["gbk-comment", "billion-laughs", "recursive-alias"])
def test_serve_refuses_to_start_with_the_place(tmp_path: Path, name: str) -> None:
    content, expected = BAD[name]
    path = tmp_path / "relay.yml"
    path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "relay", "serve", "--config", str(path), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert expected[-1] in result.stderr
