"""POST /-/reload: a valid config takes effect at once; a broken one is refused."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import markupsafe
import pytest

from relay.config import load_config
from relay.core.clock import FakeClock
from relay.web.service import create_app
from tests.helpers.webhooks import alert, webhook

CONFIG = """
storage:
  url: sqlite:///{db}
route:
  receiver: first
  routes:
    - matchers: ['team="db"']
      receiver: {db_receiver}
receivers:
  - name: first
    log_configs: [{{}}]
  - name: second
    log_configs: [{{}}]
"""


@asynccontextmanager
async def reloadable(path: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A relay running the config at ``path``, and a client."""
    app = create_app(load_config(path), config_path=str(path), clock=FakeClock(), background=False)
    state = app.state.relay
    async with state.running(background=False):  # noqa: SIM117 - the client needs the running app
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
            yield state, client


async def test_reload_swaps_valid_config_and_refuses_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(CONFIG.format(db=tmp_path / "r.db", db_receiver="first"))
    async with reloadable(path) as (state, client):

        async def receivers_for(instance: str) -> list[str]:
            body = webhook(alert(instance=instance, team="db"), group_key=instance)
            assert (await client.post("/api/v1/alerts/webhook", json=body)).status_code == 200
            jobs = await state.store.list_jobs(limit=100)
            return [j.receiver for j in jobs if j.payload["group_key"] == instance]

        assert await receivers_for("a") == ["first"]
        path.write_text(textwrap.dedent(CONFIG.format(db=tmp_path / "r.db", db_receiver="second")))
        response = await client.post("/-/reload")
        assert response.status_code == 200
        assert await receivers_for("b") == ["second"]

        path.write_text(textwrap.dedent(CONFIG.format(db=tmp_path / "r.db", db_receiver="ghost")))
        response = await client.post("/-/reload")
        assert response.status_code == 500
        assert "unknown receiver 'ghost'" in " ".join(response.json()["details"])
        assert await receivers_for("c") == ["second"]  # the old routes keep working
        metrics = (await client.get("/metrics")).text
        assert "relay_config_last_reload_successful 0.0" in metrics

        moved = CONFIG.format(db=tmp_path / "other.db", db_receiver="second")
        path.write_text(textwrap.dedent(moved))
        response = await client.post("/-/reload")
        assert response.status_code == 500
        assert "storage.url: cannot change on reload" in response.text


async def test_reload_reports_warnings_and_refuses_a_duplicate_key(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "relay.yml"
    path.write_text(CONFIG.format(db=tmp_path / "r.db", db_receiver="first"))
    async with reloadable(path) as (_, client):
        assert (await client.get("/api/v1/status")).json()["config"]["warnings"] == []
        path.write_text(
            CONFIG.format(db=tmp_path / "r.db", db_receiver="second") + "  - name: hook\n    webhook_configs:"
            " [{url: 'http://127.0.0.1:9/hook?token=$HOOK_TOKEN'}]\n"
        )
        with caplog.at_level(logging.WARNING, logger="relay"):
            response = await client.post("/-/reload")
        assert response.status_code == 200, response.text
        (warning,) = response.json()["warnings"]
        assert warning.startswith("receivers[2].webhook_configs[0].url:") and "$HOOK_TOKEN" in warning
        assert any(warning in record.getMessage() for record in caplog.records)
        assert (await client.get("/api/v1/status")).json()["config"]["warnings"] == [warning]
        page = (await client.get("/ui/")).text  # the console redacts the URL's token value
        assert "receivers[2].webhook_configs[0].url: " in page
        assert str(markupsafe.escape("relay expands only ${HOOK_TOKEN}")) in page

        path.write_text(path.read_text() + "route:\n  receiver: first\n")
        response = await client.post("/-/reload")
        assert response.status_code == 500
        assert "duplicate key 'route' (first at line" in " ".join(response.json()["details"])
        assert (await client.get("/api/v1/status")).json()["config"]["warnings"] == [warning]
