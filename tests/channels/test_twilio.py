"""Twilio against respx: a call is a form with Basic auth whose TwiML says the alert in
the message's language (escaped), asks for a key press and reports back when relay has
a public URL; an SMS per number; a resolved group an SMS only when asked and never a
call; 429 retried after Retry-After; bad credentials and numbers permanent with a hint;
numbers masked in the delivery log."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from relay.config import parse_config
from relay.core.alerts import Notification
from relay.core.errors import ConfigError, PermanentError, RetryableError
from tests.helpers.phone import disk_full, send_through
from tests.helpers.twilio import ACCOUNT_SID, AUTH_TOKEN, basic

API = "https://twilio.example"
CALLS = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
MESSAGES = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
JOB = "ab" * 16


def config_text(extra: str = "", locale: str = "en", external: str = "https://relay.example") -> str:
    return f"""
global: {{external_url: "{external}", locale: {locale}}}
route: {{receiver: phones}}
receivers:
  - name: phones
    twilio_configs:
      - {{account_sid: {ACCOUNT_SID}, auth_token: {AUTH_TOKEN}, from: "+15005550006",
          to: ["+14155550101", "+14155550102"], api_url: "{API}"{extra}}}
"""


def notification(*, summary: str = "Disk <full> & 🔥", status: str = "firing") -> Notification:
    return disk_full(summary=summary, status=status)


async def send(text: str, n: Notification) -> Any:
    return await send_through(text, "twilio", n, job=JOB)


def created(kind: str) -> Any:
    forms: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == basic()
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        forms.append(form)
        return httpx.Response(201, json={"sid": f"{kind}{len(forms):032x}", "status": "queued"})

    return forms, answer


async def test_a_call_says_the_alert_and_asks_for_a_key(respx_mock: respx.MockRouter) -> None:
    forms, answer = created("CA")
    respx_mock.post(CALLS).mock(side_effect=answer)
    delivery = await send(config_text(), notification())
    assert [f["To"] for f in forms] == ["+14155550101", "+14155550102"]
    form = forms[0]
    assert form["From"] == "+15005550006" and form["Timeout"] == "45"
    assert form["StatusCallback"] == f"https://relay.example/api/v1/twilio/voice/{JOB}/status"
    twiml = ElementTree.fromstring(form["Twiml"])  # well-formed: the summary's < & > escaped
    gather = twiml.find("Gather")
    assert (
        gather is not None
        and gather.get("action") == f"https://relay.example/api/v1/twilio/voice/{JOB}/gather"
    )
    says = gather.findall("Say")
    assert len(says) == 2 and says[0].get("language") == "en-US"
    assert "Disk <full> & 🔥" in (says[0].text or "") and "Press 1 to acknowledge" in (says[0].text or "")
    assert [r["call_sid"] for r in delivery.data["results"]] == [f"CA{1:032x}", f"CA{2:032x}"]
    assert "+14155550101" not in json.dumps(delivery.sent)


async def test_chinese_is_said_by_a_chinese_voice_and_without_a_url_nothing_comes_back(
    respx_mock: respx.MockRouter,
) -> None:
    forms, answer = created("CA")
    respx_mock.post(CALLS).mock(side_effect=answer)
    await send(config_text(locale="zh-CN", external=""), notification(summary="磁盘将满"))
    say = ElementTree.fromstring(forms[0]["Twiml"]).find("Say")
    assert say is not None and say.get("language") == "cmn-CN" and say.get("voice") == "Polly.Zhiyu"
    assert "磁盘将满" in (say.text or "") and say.get("loop") == "2"
    assert "StatusCallback" not in forms[0]


async def test_sms_for_firing_and_resolved_when_asked_never_a_resolved_call(
    respx_mock: respx.MockRouter,
) -> None:
    calls, call_answer = created("CA")
    messages, message_answer = created("SM")
    respx_mock.post(CALLS).mock(side_effect=call_answer)
    respx_mock.post(MESSAGES).mock(side_effect=message_answer)
    text = config_text(", sms: true, send_resolved: true")
    await send(text, notification())
    assert len(calls) == 2 and len(messages) == 2
    await send(text, notification(status="resolved"))
    assert len(calls) == 2 and len(messages) == 4
    assert "resolved" in messages[-1]["Body"].lower()


async def test_throttling_is_retried_after_the_vendors_window(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(CALLS).mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "7"},
            json={"code": 20429, "message": "Too Many Requests", "status": 429},
        )
    )
    with pytest.raises(RetryableError) as caught:
        await send(config_text(), notification())
    assert caught.value.retry_after == 7.0 and caught.value.throttled


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (401, 20003, "account_sid or auth_token is wrong"),
        (400, 21211, "is not valid"),
        (400, 21219, "trial account"),
        (400, 21215, "geo permissions"),
    ],
)
async def test_bad_settings_are_permanent_with_a_hint(
    respx_mock: respx.MockRouter, status: int, code: int, hint: str
) -> None:
    respx_mock.post(CALLS).mock(
        return_value=httpx.Response(
            status, json={"code": code, "message": "m +14155550101", "status": status}
        )
    )
    with pytest.raises(PermanentError) as caught:
        await send(config_text(), notification())
    assert hint in str(caught.value) and str(code) in str(caught.value)
    assert AUTH_TOKEN not in str(caught.value) and "+14155550101" not in str(caught.value)


def test_settings_are_checked_where_they_are_written() -> None:
    for extra, words in (
        (", voice: false", "nothing would be sent"),
        (", say_times: 9", "say_times"),
    ):
        with pytest.raises(ConfigError, match=words):
            parse_config(config_text(extra), env={})
    with pytest.raises(ConfigError, match="AC and 32 hex digits"):
        parse_config(config_text().replace(ACCOUNT_SID, "AC123"), env={})


def test_the_error_table_in_the_docs_is_the_codes_hints() -> None:
    from relay.channels.twilio import EXPLAIN, RETRYABLE_CODES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "channels.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Twilio") :]
    for code, hint in EXPLAIN.items():
        assert f"| {code} | permanent | {hint} |" in section, code
    for code in RETRYABLE_CODES:
        assert f"| {code} | retryable |" in section, code


def test_check_config_says_when_a_phone_channel_calls_nobody_or_cannot_hear_back() -> None:
    text = config_text(external="").replace('to: ["+14155550101", "+14155550102"], ', "")
    warnings = parse_config(text, env={}).warnings
    assert any(w.startswith("receivers[0].twilio_configs[0].to: ") and "calls nobody" in w for w in warnings)
    assert any(w.startswith("receivers[0].twilio_configs[0].voice: ") and "pressing 1" in w for w in warnings)
    paged = (
        text
        + """
escalation_policies:
  - {name: wake, steps: [{targets: ["person:alex"], receiver: phones}]}
people: [{name: alex, phone: "+14155550101"}]
"""
    )
    assert not any("calls nobody" in w for w in parse_config(paged, env={}).warnings)
    assert not any("twilio" in w for w in parse_config(config_text(), env={}).warnings)
