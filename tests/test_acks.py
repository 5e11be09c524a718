"""Acknowledge a group from the API and the CLI: by key, by id, by a unique prefix; the
repeats stop; unack lifts it; who acknowledged shows with their display name."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

from relay.cli.commands import main
from relay.pipeline.acks import group_id
from tests.helpers.process import RelayProcess
from tests.helpers.webhooks import alert, webhook

CONFIG = """
route: {receiver: ops, repeat_interval: 1h}
receivers: [{name: ops, log_configs: [{}]}]
people:
  - {name: zhangsan, display_name: 张三}
"""


async def test_ack_by_key_id_and_prefix_then_unack(relay_factory) -> None:
    async with relay_factory(CONFIG) as relay:
        for name in ("DiskFull", "DiskSlow"):
            body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
            assert (await relay.post(body)).status_code == 200
        groups = (await relay.client.get("/api/v1/groups")).json()["groups"]
        key = next(g["key"] for g in groups if "DiskFull" in g["key"])
        assert next(g["id"] for g in groups if g["key"] == key) == group_id(key)

        by_id = await relay.client.post(f"/api/v1/groups/{group_id(key)}/ack", json={"by": "zhangsan"})
        assert by_id.status_code == 200, by_id.text
        ack = by_id.json()["acknowledged"]
        assert (ack["by"], ack["person"], ack["via"]) == ("zhangsan", "张三", "api")

        # A repeat is due after an hour: not while acknowledged.
        relay.clock.advance(2 * 3600)
        again = await relay.post(webhook(alert("DiskFull"), group_key='{}:{alertname="DiskFull"}'))
        assert [s["reason"] for s in again.json()["suppressed"]] == ["acknowledged"]

        lifted = await relay.client.post(f"/api/v1/groups/{group_id(key)[:8]}/unack")
        assert lifted.status_code == 200 and lifted.json()["acknowledged"] is None
        by_key = await relay.client.post(f"/api/v1/groups/{key}/ack", json={"comment": "on it"})
        assert by_key.json()["acknowledged"]["by"] == "anonymous"
        assert by_key.json()["acknowledged"]["comment"] == "on it"

        shared = os.path.commonprefix([g["key"] for g in groups])  # noqa: RUF071 - characters are meant
        ambiguous = await relay.client.post(f"/api/v1/groups/{quote(shared, safe='')}/ack")
        assert ambiguous.status_code == 404 and "2 groups match" in ambiguous.text
        missing = await relay.client.post("/api/v1/groups/zzzz/ack")
        assert missing.status_code == 404 and "no group" in missing.text


def test_relay_ack_and_unack_against_a_running_relay(tmp_path: Path) -> None:
    config = tmp_path / "relay.yml"
    config.write_text(f'storage: {{url: "sqlite:///{tmp_path}/r.db"}}\n' + CONFIG)
    relay = RelayProcess(config).start()
    try:
        body = webhook(alert("DiskFull"), group_key='{}:{alertname="DiskFull"}')
        assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=10).status_code == 200
        key = httpx.get(f"{relay.url}/api/v1/groups", timeout=10).json()["groups"][0]["key"]
        runner = CliRunner()
        acked = runner.invoke(main, ["ack", "--url", relay.url, "--by", "zhangsan", group_id(key)[:6]])
        assert acked.exit_code == 0, acked.output
        assert acked.output.strip() == f"{group_id(key)} {key}: acknowledged by 张三"
        lifted = runner.invoke(main, ["unack", "--url", relay.url, group_id(key)])
        assert lifted.exit_code == 0 and "not acknowledged" in lifted.output
        group = httpx.get(f"{relay.url}/api/v1/groups/{quote(key, safe='')}", timeout=10).json()
        events = [(e["event"], e.get("by"), e.get("via")) for e in group["timeline"]]
        assert ("acknowledged", "zhangsan", "cli") in events and (
            "unacknowledged",
            "anonymous",
            "cli",
        ) in events
        unknown = runner.invoke(main, ["ack", "--url", relay.url, "nothing-like-it"])
        assert unknown.exit_code == 1 and "no group 'nothing-like-it'" in unknown.output
    finally:
        relay.stop()


@pytest.mark.parametrize("words", ["ack", "unack"])
def test_the_commands_are_listed(words: str) -> None:
    assert words in CliRunner().invoke(main, ["--help"]).output
