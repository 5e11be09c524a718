"""Action links through a real `relay serve` and a real Alertmanager: fetching every link
of a message (as a chat's link preview does) creates nothing; the Silence 1h link's
button creates the silence (read back with amtool) and the page says until when; the
Acknowledge link acknowledges the group and it shows in the timeline."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers.alertmanager import amtool_silences, start_alertmanager, url_of
from tests.helpers.process import RelayProcess, free_port, wait_for
from tests.helpers.services import ServiceProcess
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, ServiceProcess, Sink]]:
    am = start_alertmanager(tmp_path)
    sink = Sink().start()
    port = free_port()
    config = tmp_path / "relay.yml"
    config.write_text(
        textwrap.dedent(f"""
        global: {{timezone: Asia/Shanghai, external_url: "http://127.0.0.1:{port}"}}
        storage: {{url: 'sqlite:///{tmp_path}/relay.db'}}
        alertmanager: {{url: '{url_of(am)}'}}
        route: {{receiver: oncall, repeat_interval: 4h}}
        receivers:
          - name: oncall
            webhook_configs: [{{url: '{sink.url}/hook'}}]
        people:
          - {{name: zhangsan, display_name: 张三}}
    """)
    )
    relay = RelayProcess(config, port=port).start()
    try:
        yield relay, am, sink
    finally:
        relay.stop()
        sink.stop()
        am.stop()


def links(relay: RelayProcess, sink: Sink, name: str) -> dict[str, str]:
    body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=5).status_code == 200
    assert wait_for(lambda: any(name in r.body.decode() for r in sink.received), timeout=15)
    sent = next(r.json() for r in sink.received if name in r.body.decode())
    return {f"{a['action']}{a['seconds'] or ''}": a["url"] for a in sent["relay"]["actions"]}


def test_preview_fetches_change_nothing_and_the_button_silences(
    stack: tuple[RelayProcess, ServiceProcess, Sink],
) -> None:
    relay, am, sink = stack
    urls = links(relay, sink, "LinkSilence")
    assert set(urls) == {"ack", "silence3600", "silence14400"}
    for url in urls.values():  # a link-preview robot
        assert httpx.get(url, timeout=5).status_code == 200
    assert amtool_silences(am, "alertname=LinkSilence") == []

    page = httpx.post(urls["silence3600"], data={"who": "zhangsan"}, timeout=15)
    assert page.status_code == 200, page.text
    assert re.search(r"Silenced until \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? by 张三", page.text)
    (silence,) = amtool_silences(am, "alertname=LinkSilence")
    assert silence["createdBy"] == "zhangsan (a message link, via relay)"
    # The same link again shows what was done, and makes no second silence.
    again = httpx.post(urls["silence3600"], data={"who": "someone"}, timeout=15)
    assert "by 张三" in again.text
    assert len(amtool_silences(am, "alertname=LinkSilence")) == 1


def test_the_acknowledge_link_acknowledges_and_shows_in_the_timeline(
    stack: tuple[RelayProcess, ServiceProcess, Sink],
) -> None:
    relay, _, sink = stack
    urls = links(relay, sink, "LinkAck")
    page = httpx.post(urls["ack"], data={"who_other": "Wang Wu"}, timeout=15)
    assert page.status_code == 200 and "Acknowledged by Wang Wu" in page.text
    key = next(g["key"] for g in httpx.get(f"{relay.url}/api/v1/groups", timeout=5).json()["groups"])
    group = httpx.get(f"{relay.url}/api/v1/groups/{quote(key, safe='')}", timeout=5).json()
    acked = [e for e in group["timeline"] if e["event"] == "acknowledged"]
    assert [(e["by"], e["via"]) for e in acked] == [("Wang Wu", "link")]
