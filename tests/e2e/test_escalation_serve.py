"""Escalation through real `relay serve` processes, on the wall clock (steps 2 s apart):

* each step reaches fakes of the WeCom, DingTalk (signed) and Feishu (signed) robots with
  its people mentioned in each vendor's native form, the person on call resolved when
  the step fires (a runtime override changes who the next step pages);
* ``kill -9`` between steps: after the restart the next step fires, once;
* two replicas on one real redis-server: each step fires once, whichever replica's
  flush loop gets there first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import require_binary
from tests.helpers.dingtalk import FakeDingTalk
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.redis_server import RedisServer
from tests.helpers.sink import Answer, Received, Sink
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e

DING_TOKEN, DING_SECRET = "ding-e2e-token-0123456789", "SECe2e0123456789abcdef"
FEISHU_TOKEN, FEISHU_SECRET = "feishu-e2e-hook-0123", "feishu-e2e-secret-4567"
FEISHU_OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706cc"

PEOPLE = """
people:
  - name: zhangsan
    display_name: 张三
    ids: {wecom: ZhangSan, dingtalk: "13800000001", feishu: ou_7d8a6e6df7621556ce0d21922b676706cc}
  - name: lisi
    display_name: 李四
    ids: {wecom: LiSi, dingtalk: "13800000002", feishu: ou_11112222333344445555666677778888aa}
schedules:
  - name: sre
    rotations: [{people: [zhangsan, lisi], start: "2026-01-05T00:00:00", shift: 1w}]
"""


def feishu_signed(received: Received) -> bool:
    """Feishu's custom-bot signature, from its documentation: base64(HMAC-SHA256 with
    key "timestamp\\nsecret" over an empty message), and a timestamp within an hour."""
    body = received.json()
    stamp = str(body.get("timestamp", ""))
    key = f"{stamp}\n{FEISHU_SECRET}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return stamp.isdigit() and abs(int(stamp) - time.time()) < 3600 and body.get("sign") == expected


@pytest.fixture
def robots() -> Iterator[tuple[Sink, FakeDingTalk, Sink]]:
    ok_wecom = Answer(body={"errcode": 0, "errmsg": "ok"}, headers={"Content-Type": "application/json"})
    ok_feishu = Answer(
        body={"code": 0, "data": {}, "msg": "success"}, headers={"Content-Type": "application/json"}
    )
    with Sink(ok_wecom) as wecom, Sink(ok_feishu) as feishu, FakeDingTalk(DING_TOKEN, DING_SECRET) as ding:
        yield wecom, ding, feishu


def robot_config(tmp_path: Path, robots: tuple[Sink, FakeDingTalk, Sink]) -> Path:
    wecom, ding, feishu = robots
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(f"""
        storage: {{url: "sqlite:///./relay.db"}}
        route:
          receiver: sre
          routes:
            - matchers: ['severity="critical"']
              receiver: sre
              escalation: sre
        receivers:
          - name: sre
            wecom_configs:
              - webhook_url: "{wecom.url}/cgi-bin/webhook/send?key=robot-key-0123456789"
                msgtype: text
            dingtalk_configs:
              - {{access_token: {DING_TOKEN}, secret: {DING_SECRET}, api_url: "{ding.api_url}"}}
            feishu_configs:
              - webhook_url: "{feishu.url}/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
                secret: {FEISHU_SECRET}
        escalation_policies:
          - name: sre
            steps:
              - targets: [schedule:sre]
              - {{after: 2s, targets: [schedule:sre]}}
              - {{after: 4s, targets: [person:lisi]}}
        """)
        + PEOPLE,
        encoding="utf-8",
    )
    return path


def post(relay: RelayProcess, *alerts: dict[str, Any]) -> None:
    body = webhook(*alerts, group_key='{}:{alertname="DiskFull"}')
    answer = httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=10)
    assert answer.status_code == 200, answer.text


def test_each_step_mentions_natively_on_wecom_dingtalk_and_feishu(
    tmp_path: Path, robots: tuple[Sink, FakeDingTalk, Sink]
) -> None:
    wecom, ding, feishu = robots
    relay = RelayProcess(robot_config(tmp_path, robots)).start()
    try:
        now_on_call = httpx.get(f"{relay.url}/api/v1/oncall", timeout=5).json()["schedules"][0]["now"]
        first, other = ("zhangsan", "lisi") if now_on_call["person"] == "zhangsan" else ("lisi", "zhangsan")
        post(relay, alert("DiskFull", severity="critical"))
        assert wait_for(lambda: wecom.count() >= 1 and len(ding.received) >= 1 and feishu.count() >= 1)
        # Swap the shift before step 2: it pages whoever is on call when it fires.
        swap = httpx.post(
            f"{relay.url}/api/v1/schedules/sre/overrides",
            json={"person": other, "start": time.time() - 60, "end": time.time() + 3600, "by": "e2e"},
            timeout=5,
        )
        assert swap.status_code == 201, swap.text
        assert wait_for(lambda: wecom.count() >= 3 and len(ding.received) >= 3 and feishu.count() >= 3, 15)
        time.sleep(1.0)  # nothing more comes
        wecom_ids = {"zhangsan": "ZhangSan", "lisi": "LiSi"}
        mobiles = {"zhangsan": "13800000001", "lisi": "13800000002"}
        open_ids = {"zhangsan": FEISHU_OPEN_ID, "lisi": "ou_11112222333344445555666677778888aa"}
        paged = [first, other, "lisi"]
        assert [r.json()["text"]["mentioned_list"] for r in wecom.received] == [[wecom_ids[p]] for p in paged]
        assert [b["at"]["atMobiles"] for b in ding.received] == [[mobiles[p]] for p in paged]
        assert all(
            f"@{mobiles[p]}" in b["markdown"]["text"] for p, b in zip(paged, ding.received, strict=True)
        )
        assert all(feishu_signed(r) for r in feishu.received)
        for person, received in zip(paged, feishu.received, strict=True):
            assert f"<at id={open_ids[person]}></at>" in received.body.decode()
        assert "Escalation step 2 of 3 (policy sre)" in wecom.received[1].json()["text"]["content"]
        assert set(ding.answers) == {0}
    finally:
        relay.stop()


def webhook_config(path: Path, storage: str, sink: Sink, step: str = "3s") -> Path:
    path.write_text(
        textwrap.dedent(f"""
        storage: {{url: "{storage}"}}
        route: {{receiver: sre, escalation: sre}}
        receivers:
          - name: sre
            webhook_configs: [{{url: "{sink.url}/hook"}}]
        escalation_policies:
          - name: sre
            steps:
              - targets: [schedule:sre]
              - {{after: {step}, targets: [schedule:sre]}}
              - {{after: {int(step[:-1]) * 2}s, targets: [person:lisi]}}
        """)
        + PEOPLE,
        encoding="utf-8",
    )
    return path


def steps_seen(sink: Sink) -> list[int]:
    return [
        r.json()["relay"]["escalation"]["step"] for r in sink.received if "escalation" in r.json()["relay"]
    ]


def test_kill_9_between_steps_the_next_step_fires_once_after_restart(tmp_path: Path) -> None:
    with Sink() as sink:
        config = webhook_config(tmp_path / "relay.yml", "sqlite:///./relay.db", sink, step="4s")
        relay = RelayProcess(config).start()
        try:
            post(relay, alert("DiskFull"))
            assert wait_for(lambda: steps_seen(sink) == [1])
            relay.kill9()
            time.sleep(5)  # step 2 came due while relay was down
            relay = RelayProcess(config, port=relay.port).start()
            assert wait_for(lambda: steps_seen(sink) == [1, 2], 10), steps_seen(sink)
            assert wait_for(lambda: steps_seen(sink) == [1, 2, 3], 10), steps_seen(sink)
            time.sleep(1.5)
            assert steps_seen(sink) == [1, 2, 3]
        finally:
            relay.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(binary=require_binary("redis-server"))
    with server:
        yield server


def test_two_replicas_on_redis_fire_each_step_once(tmp_path: Path, redis_server: RedisServer) -> None:
    with Sink() as sink:
        storage = f"{redis_server.url}?prefix=esc:"
        config = webhook_config(tmp_path / "relay.yml", storage, sink, step="2s")
        replicas = [RelayProcess(config).start(), RelayProcess(config).start()]
        try:
            # Alertmanager's HA pair: the same webhook to both replicas.
            for replica in replicas:
                post(replica, alert("DiskFull"))
            assert wait_for(lambda: len(steps_seen(sink)) >= 3, 15), steps_seen(sink)
            time.sleep(2.5)  # a second copy of any step would have come by now
            assert steps_seen(sink) == [1, 2, 3]
            group = httpx.get(f"{replicas[1].url}/api/v1/groups", timeout=5).json()["groups"][0]
            detail = httpx.get(f"{replicas[1].url}/api/v1/groups/{quote(group['key'], safe='')}", timeout=5)
            events = [e["event"] for e in detail.json()["timeline"]]
            assert events.count("escalated") == 3
        finally:
            for replica in replicas:
                replica.stop()
