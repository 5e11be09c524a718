"""A Twilio call through a real `relay serve`, and what Twilio tells relay back: an
unacknowledged critical page calls the on-call person once (a local fake of Twilio's
API checks the Basic auth); Twilio's signed callbacks (the signature computed here from
Twilio's documentation) put "answered" on the group's timeline and a pressed 1
acknowledges the group as that person, once; a forged, replayed or foreign callback
changes nothing. No number whole in the log or the API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers.phone import paging_config
from tests.helpers.process import RelayProcess, free_port, wait_for
from tests.helpers.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, twilio_signature
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e

PHONE = "+14155550199"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, FakeTwilio]]:
    port = free_port()
    with FakeTwilio() as twilio:
        config = paging_config(
            tmp_path,
            f"""
            twilio_configs:
              - account_sid: {ACCOUNT_SID}
                auth_token: {AUTH_TOKEN}
                from: "+15005550006"
                api_url: {twilio.url}
            """,
            person="alex",
            phone=PHONE,
            more=f'global: {{external_url: "http://127.0.0.1:{port}"}}\n',
        )
        relay = RelayProcess(config, port=port).start()
        try:
            yield relay, twilio
        finally:
            relay.stop()


def callback(url: str, fields: dict[str, str], token: str = AUTH_TOKEN) -> httpx.Response:
    headers = {"X-Twilio-Signature": twilio_signature(url, fields, token)}
    return httpx.post(url, data=fields, headers=headers, timeout=5)


def test_a_call_reports_back_and_a_key_press_acknowledges(stack: tuple[RelayProcess, FakeTwilio]) -> None:
    relay, twilio = stack
    body = webhook(alert("NobodyTakesIt", severity="critical"), group_key='{}:{alertname="NobodyTakesIt"}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=5).status_code == 200
    assert wait_for(lambda: twilio.calls, 15)
    (call,) = twilio.calls
    assert call["To"] == PHONE and "NobodyTakesIt" in call["Twiml"]
    status_url, gather_url = call["StatusCallback"], call["StatusCallback"].replace("/status", "/gather")
    assert gather_url in call["Twiml"]
    (group,) = httpx.get(f"{relay.url}/api/v1/groups", timeout=5).json()["groups"]
    group_url = f"{relay.url}/api/v1/groups/{quote(group['key'], safe='')}"

    # Forged, foreign or unknown: refused before anything is looked at or changed.
    press = {"AccountSid": ACCOUNT_SID, "CallSid": "CA" + "1" * 32, "To": PHONE, "Digits": "1"}
    assert callback(gather_url, press, token="not-the-token").status_code == 401
    assert callback(gather_url, {**press, "AccountSid": "AC" + "f" * 32}).status_code == 401
    job_id = status_url.split("/")[-2]
    assert callback(gather_url.replace(job_id, "0" * 32), press).status_code == 404  # signed; no such call
    assert httpx.get(group_url, timeout=5).json()["acknowledged"] is None

    # The person answers and presses 1: acknowledged as them, once.
    answered = callback(gather_url, press)
    assert answered.status_code == 200 and "Acknowledged" in answered.text
    assert answered.headers["content-type"].startswith("text/xml")
    assert callback(gather_url, press).status_code == 200  # Twilio retries: nothing more
    ended = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": press["CallSid"],
        "To": PHONE,
        "CallStatus": "completed",
        "CallDuration": "21",
    }
    assert callback(status_url, ended).status_code == 200
    assert callback(status_url, ended).status_code == 200  # a replay

    state = httpx.get(group_url, timeout=5).json()
    assert state["acknowledged"]["by"] == "alex" and state["acknowledged"]["via"] == "phone"
    events = [e for e in state["timeline"] if e["event"] in ("acknowledged", "call")]
    assert [e["event"] for e in events] == ["acknowledged", "call"]
    assert events[1]["answered"] is True and events[1]["to"] == "+141****0199" and events[1]["duration"] == 21

    time.sleep(3)  # acknowledged: the later step calls nobody
    assert len(twilio.calls) == 1
    assert PHONE not in relay.log() and PHONE not in httpx.get(group_url, timeout=5).text
