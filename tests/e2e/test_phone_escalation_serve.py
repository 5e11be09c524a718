"""A phone call for a page nobody takes, through a real `relay serve`: a critical alert
unacknowledged after the first step places exactly one call to the on-call person's
number (a local fake of Tencent Cloud's voice API checks the TC3 signature with its
own implementation); acknowledged before the step, no call; resolved, no call. No
number appears whole in relay's log or API answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.helpers.phone import paging_config
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.tencent import SECRET_ID, SECRET_KEY, FakeTencentVoice
from tests.helpers.webhooks import alert, webhook

pytestmark = pytest.mark.e2e

PHONE = "+8613912345678"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[RelayProcess, FakeTencentVoice]]:
    with FakeTencentVoice() as voice:
        config = paging_config(
            tmp_path,
            f"""
            tencent_voice_configs:
              - secret_id: {SECRET_ID}
                secret_key: {SECRET_KEY}
                sdk_app_id: "1400000001"
                template_id: "1234567"
                api_url: {voice.url}
            """,
            person="lisi",
            phone=PHONE,
            after="3s",
        )
        relay = RelayProcess(config).start()
        try:
            yield relay, voice
        finally:
            relay.stop()


def fire(relay: RelayProcess, name: str, status: str = "firing") -> None:
    body = webhook(alert(name, severity="critical", status=status), group_key=f'{{}}:{{alertname="{name}"}}')
    assert httpx.post(f"{relay.url}/api/v1/alerts/webhook", json=body, timeout=5).status_code == 200


def test_only_the_unacknowledged_page_calls_once(stack: tuple[RelayProcess, FakeTencentVoice]) -> None:
    relay, voice = stack
    fire(relay, "NobodyTakesIt")
    fire(relay, "SomeoneTakesIt")
    fire(relay, "ItGoesAway")
    groups = {
        g["labels"]["alertname"]: g["key"] for g in httpx.get(f"{relay.url}/api/v1/groups").json()["groups"]
    }
    ack = httpx.post(f"{relay.url}/api/v1/groups/{quote(groups['SomeoneTakesIt'], safe='')}/ack", timeout=5)
    assert ack.status_code == 200
    fire(relay, "ItGoesAway", status="resolved")
    assert wait_for(lambda: voice.calls, 15)
    time.sleep(4)  # every step that could call has had its time
    assert voice.refused == []
    assert [c["CalledNumber"] for c in voice.calls] == [PHONE]
    params = voice.calls[0]["TemplateParamSet"]
    assert params[0].startswith("NobodyTakesIt") and all(len(p) <= 20 for p in params)
    listed = httpx.get(f"{relay.url}/api/v1/notifications", params={"receiver": "phones"}, timeout=5)
    (job,) = listed.json()["notifications"]
    detail = httpx.get(f"{relay.url}/api/v1/notifications/{job['id']}", timeout=5).text
    assert PHONE not in listed.text and PHONE not in detail
    assert "+86139****5678" in detail  # the call as sent, number masked
    assert PHONE not in relay.log()
