"""An Alibaba Cloud call through a real `relay serve`, and how it ended: an unacknowledged
critical page calls the on-call person once (a local fake of the voice API checks the
RPC signature with its own implementation); relay then asks QueryCallDetailByCallId
until the fake has the call's record, without calling again, and the group's timeline
says the call was not answered. The number is never whole in the log or the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers.aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, MISSED, FakeAliyun
from tests.helpers.phone import paging_config
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e

PHONE = "+8613912345678"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, FakeAliyun]]:
    with FakeAliyun() as voice:
        voice.records = [None, None, MISSED]  # ringing, ringing, then its record
        config = paging_config(
            tmp_path,
            f"""
            aliyun_voice_configs:
              - access_key_id: {ACCESS_KEY_ID}
                access_key_secret: {ACCESS_KEY_SECRET}
                tts_code: TTS_184820765
                check_every: 1s
                api_url: {voice.url}
            """,
            person="lisi",
            phone=PHONE,
        )
        relay = RelayProcess(config).start()
        try:
            yield relay, voice
        finally:
            relay.stop()


def test_a_call_nobody_answers_is_on_the_timeline(stack: tuple[RelayProcess, FakeAliyun]) -> None:
    relay, voice = stack
    body = webhook(alert("NobodyTakesIt", severity="critical"), group_key='{}:{alertname="NobodyTakesIt"}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=5).status_code == 200
    (group,) = httpx.get(f"{relay.url}/api/v1/groups", timeout=5).json()["groups"]
    url = f"{relay.url}/api/v1/groups/{quote(group['key'], safe='')}"

    def call_events() -> list[dict[str, object]]:
        return [e for e in httpx.get(url, timeout=5).json()["timeline"] if e["event"] == "call"]

    assert wait_for(lambda: call_events(), 30), relay.log()[-3000:]
    assert voice.refused == []
    assert [c["CalledNumber"] for c in voice.calls] == ["13912345678"]  # one call, asked about 3 times
    assert len(voice.queries) == 3 and {q["CallId"] for q in voice.queries} == {"11601^1"}
    (event,) = call_events()
    assert event["answered"] is False and event["status"] == "用户未接听" and event["via"] == "aliyun_voice"
    assert event["to"] == "+86139****5678"
    assert PHONE not in relay.log() and "13912345678" not in relay.log()
    jobs = httpx.get(f"{relay.url}/api/v1/notifications", params={"receiver": "phones"}, timeout=5)
    assert PHONE not in jobs.text and "13912345678" not in jobs.text
