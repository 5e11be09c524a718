"""One group of 10,000 alerts (2.9 MB, a storm with Alertmanager's ``max_alerts: 0``)
through a real `relay serve` whose receiver has every channel, each pointed at a local
fake of its vendor. Meanwhile a probe asks ``/-/healthy`` every 100 ms, and another
receiver's webhook keeps getting small alerts: relay must keep answering and delivering.

Promises checked: no gap over 1 s between answers of ``/-/healthy``; every small webhook
answered 200 and delivered to its healthy destination; each channel sends at most
``max_parts`` (10) messages for the big group, never more than its vendor's rate in a
window; the email stays within ``max_bytes``.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.services import SmtpSink
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook

TOKEN = "987654321:AAFbigGroupTokenValue-abcdefghijklmn"
OK_JSON = {"Content-Type": "application/json"}


def big_group(count: int) -> dict[str, Any]:
    alerts = []
    for i in range(count):
        one = alert("DiskFull", instance=f"host-{i}:9100", severity="critical", mountpoint="/data")
        one["annotations"] = {
            "summary": f"磁盘 /data 将满 on host-{i}",
            "description": "剩余 3%",
        }
        alerts.append(one)
    return webhook(*alerts, group_key='{}:{alertname="DiskFull"}')


class Probe:
    """GET /-/healthy every 100 ms until stopped; records when each answer came."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(f"{self.url}/-/healthy").status_code
                    if status == 200:
                        self.answers.append(time.monotonic())
                    else:
                        self.failures.append(f"HTTP {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self._stop.wait(0.1)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def longest_gap(self) -> float:
        return max((b - a for a, b in zip(self.answers, self.answers[1:], strict=False)), default=0.0)


def most_in_any_window(times: list[float], window: float) -> int:
    return max((sum(start <= t < start + window for t in times) for start in times), default=0)


def test_a_group_of_10000_alerts_does_not_stall_relay(tmp_path: Path) -> None:
    wecom = Sink(Answer(body={"errcode": 0, "errmsg": "ok"}, headers=OK_JSON))
    dingtalk = Sink(Answer(body={"errcode": 0, "errmsg": "ok"}, headers=OK_JSON))
    feishu = Sink(Answer(body={"code": 0, "msg": "success", "data": {}}, headers=OK_JSON))
    slack = Sink(Answer(body=b"ok"))
    teams = Sink(Answer(status=202, body=b""))
    telegram = Sink(Answer(body={"ok": True, "result": {"message_id": 1}}, headers=OK_JSON))
    steady = Sink()
    smtp = SmtpSink().start()
    sinks = [wecom, dingtalk, feishu, slack, teams, telegram, steady]
    for sink in sinks:
        sink.start()
    try:
        config = tmp_path / "relay.yml"
        config.write_text(
            textwrap.dedent(f"""
            global: {{external_url: "https://relay.example.com"}}
            storage: {{url: "sqlite:///{tmp_path}/relay.db"}}
            delivery: {{timeout: 5s, retry_for: 2m, backoff_initial: 0.5s, backoff_max: 2s}}
            route:
              receiver: storm
              routes:
                - matchers: ['team="steady"']
                  receiver: steady
            receivers:
              - name: storm
                wecom_configs: [{{webhook_url: "{wecom.url}/cgi-bin/webhook/send?key=robot-key-0123456789"}}]
                dingtalk_configs: [{{webhook_url: "{dingtalk.url}/robot/send?access_token=dt0123456789ab"}}]
                feishu_configs: [{{webhook_url: "{feishu.url}/open-apis/bot/v2/hook/0123456789abcdef"}}]
                slack_configs: [{{api_url: "{slack.url}/services/T0/B0/0123456789abcdef"}}]
                msteams_configs: [{{webhook_url: "{teams.url}/workflows/0a1b2c3d/triggers/manual/paths/run"}}]
                telegram_configs: [{{bot_token: "{TOKEN}", chat_id: "-100123", api_url: "{telegram.url}"}}]
                email_configs:
                  - {{to: [ops@example.com], from: relay@example.com, smarthost: "127.0.0.1:{smtp.port}",
                      require_tls: false}}
              - name: steady
                webhook_configs: [{{url: "{steady.url}/steady"}}]
            """)
        )
        relay = RelayProcess(config).start()
        try:
            body = json.dumps(big_group(10_000), ensure_ascii=False).encode()
            assert len(body) > 2_000_000
            with Probe(relay.url) as probe, httpx.Client(timeout=30) as client:
                time.sleep(0.5)
                answer = client.post(
                    f"{relay.url}/api/v1/alerts/webhook",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status_code == 200, answer.text
                # Small webhooks for another receiver while the big group is rendered and sent.
                for i in range(20):
                    small = webhook(alert("Steady", team="steady", instance=f"s{i}"), group_key=f"steady-{i}")
                    assert client.post(f"{relay.url}/api/v1/alerts/webhook", json=small).status_code == 200
                    time.sleep(0.2)
                delivered = wait_for(
                    lambda: (
                        steady.count() >= 20
                        and all(s.count() >= 2 for s in [wecom, dingtalk, feishu, slack, teams, telegram])
                        and len(smtp.received()) >= 1
                    ),
                    timeout=60,
                )
                assert delivered, relay.log()[-3000:]
                # Telegram takes 1 a second: its last parts arrive while the probe still runs.
                wait_for(lambda: telegram.count() >= 10, timeout=20)
            print(f"longest /-/healthy gap {probe.longest_gap():.3f}s over {len(probe.answers)} answers")
            assert not probe.failures, probe.failures[:5]
            assert probe.longest_gap() < 1.0, f"/-/healthy was silent for {probe.longest_gap():.2f}s"
            for name, sink, rate in [
                ("wecom", wecom, (20, 60.0)),
                ("dingtalk", dingtalk, (20, 60.0)),
                ("feishu", feishu, (5, 1.0)),
                ("teams", teams, (4, 1.0)),
                ("telegram", telegram, (1, 1.0)),
            ]:
                times = [r.at for r in sink.received]
                assert 2 <= len(times) <= 10, (name, len(times))
                # The sink stamps arrivals; relay stamps its window on the answer, so allow
                # the scheduler's jitter at the window's edge (10 ms).
                assert most_in_any_window(times, rate[1] - 0.01) <= rate[0], (name, times)
            assert 2 <= slack.count() <= 10
            last = wecom.received[-1].json()["markdown"]["content"]
            assert "not shown" in last and "https://relay.example.com/ui/group?key=" in last
            mails = smtp.received()
            assert len(mails) == 1
            assert len(mails[0].as_bytes()) < 400_000
        finally:
            relay.stop()
    finally:
        for sink in sinks:
            sink.stop()
        smtp.stop()
