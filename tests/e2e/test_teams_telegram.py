"""Teams and Telegram end to end: a real `relay serve` delivers one Alertmanager webhook
to local fakes of a Teams workflow and of the Telegram Bot API, through a throttle answer
each (429 with Retry-After / parameters.retry_after), and its log and status API never
show the workflow's signature or the bot token."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx

from tests.channels.test_telegram import Entities
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.sink import Answer, Sink
from tests.helpers.webhooks import alert, webhook

TOKEN = "987654321:AAFe2eSecretTokenValue-abcdefghijklm"
SIG = "e2eSignature-0123456789abcdefghij"
WORKFLOW_PATH = "/workflows/0a1b2c3d4e5f60718293a4b5/triggers/manual/paths/invoke?api-version=2016-06-01"


def test_a_webhook_reaches_teams_and_telegram_through_a_throttle(tmp_path: Path) -> None:
    teams = Sink(Answer(status=202, body=b""))
    teams.answer(
        Answer(
            status=429,
            body={"error": {"code": "Throttled"}},
            headers={"Retry-After": "1", "Content-Type": "application/json"},
        )
    )
    telegram = Sink(
        Answer(body={"ok": True, "result": {"message_id": 1}}, headers={"Content-Type": "application/json"})
    )
    telegram.answer(
        Answer(
            status=429,
            headers={"Content-Type": "application/json"},
            body={
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
        )
    )
    (tmp_path / "token").write_text(TOKEN + "\n")
    with teams, telegram:
        config = tmp_path / "relay.yml"
        config.write_text(
            textwrap.dedent(f"""
            storage: {{url: "sqlite:///{tmp_path}/relay.db"}}
            delivery: {{timeout: 2s, retry_for: 1m, backoff_initial: 0.2s, backoff_max: 1s}}
            route: {{receiver: chat, group_wait: 0s}}
            receivers:
              - name: chat
                msteams_configs:
                  - webhook_url: "{teams.url}{WORKFLOW_PATH}&sig={SIG}"
                telegram_configs:
                  - bot_token_file: {tmp_path / "token"}
                    chat_id: -1001234567890
                    api_url: {telegram.url}
        """)
        )
        relay = RelayProcess(config).start()
        try:
            hostile = alert("DiskFull", team="<b>ops</b> & **[x](http://evil)**")
            response = httpx.post(
                f"{relay.url}/api/v1/alerts/webhook",
                json=webhook(hostile, group_key='{}:{alertname="DiskFull"}'),
                timeout=5,
            )
            assert response.status_code == 200, response.text
            assert wait_for(lambda: teams.count() == 2 and telegram.count() == 2, timeout=20), relay.log()
            assert wait_for(
                lambda: all(
                    j["status"] == "delivered"
                    for j in httpx.get(f"{relay.url}/api/v1/notifications", timeout=5).json()["notifications"]
                )
            )
            status = httpx.get(f"{relay.url}/api/v1/status", timeout=5).text
            listed = httpx.get(f"{relay.url}/api/v1/notifications", timeout=5).text
        finally:
            relay.stop()
    # The retry came after the vendor's wait, not before.
    assert teams.received[1].at - teams.received[0].at >= 0.9
    assert telegram.received[1].at - telegram.received[0].at >= 0.9
    card = teams.received[1].json()["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["text"] == "🟠 [FIRING:1] DiskFull"
    request = telegram.received[1]
    assert request.path == f"/bot{TOKEN}/sendMessage"
    parsed = Entities(request.json()["text"])
    assert parsed.problems == [] and "team=<b>ops</b> & **[x](http://evil)**" in parsed.visible
    assert "throttled" in listed or "429" in listed
    for text in (relay.log(), status, listed):
        assert SIG not in text and TOKEN.split(":")[1] not in text
    assert json.loads(status)  # the status API answered
