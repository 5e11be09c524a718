"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback, and amtool to read
its silences: what relay creates there is checked by Alertmanager's own tools."""

from __future__ import annotations

import json
import subprocess
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import require_binary
from tests.helpers.process import free_port, system_env
from tests.helpers.services import ServiceProcess

NOTHING_SENT = """
route:
  receiver: nobody
receivers:
  - name: nobody
"""


def start_alertmanager(
    tmp_path: Path, config_text: str = NOTHING_SENT, port: int | None = None
) -> ServiceProcess:
    """One Alertmanager without a cluster port. By default it routes everything to a
    receiver that sends nothing (only its silences API is used)."""
    binary = require_binary("prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(config_text)
    port = port or free_port()
    data = tmp_path / "alertmanager-data"
    data.mkdir(exist_ok=True)
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    am = ServiceProcess(
        "alertmanager", argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "alertmanager.log"
    )
    return am.start()


def url_of(am: ServiceProcess) -> str:
    return am.ready_url.removesuffix("/-/ready")


def alertmanager_now(am: ServiceProcess) -> float:
    """Alertmanager's own clock (its Date header, whole seconds): silences are judged
    by it, so a test creates them at this time whatever the test's clock says (the suite
    also runs with its clock shifted a year, while Alertmanager's is not)."""
    date = httpx.get(am.ready_url, timeout=5).headers["date"]
    return parsedate_to_datetime(date).timestamp()


def amtool_silences(am: ServiceProcess, *matchers: str) -> list[dict[str, Any]]:
    """``amtool silence query -o json <matchers>``: the active silences that match."""
    amtool = require_binary("amtool")
    out = subprocess.run(
        [amtool, "silence", "query", "-o", "json", f"--alertmanager.url={url_of(am)}", *matchers],
        capture_output=True,
        text=True,
        timeout=30,
        env=system_env(),
        check=True,
    )
    return list(json.loads(out.stdout or "[]") or [])
