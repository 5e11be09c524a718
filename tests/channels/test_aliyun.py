"""Alibaba Cloud voice and SMS against respx, each request's signature, timestamp and
nonce checked by an implementation written here from Alibaba Cloud's documentation (RPC
签名 1.0), not relay's: a signed request per channel, named template variables within
their limits (Chinese, emoji, long values), numbers as the vendor writes them and masked
in the delivery log, flow control retried after the window it names, bad credentials
and unapproved templates permanent with a hint, a number abroad not called."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from relay.channels.base import MemoryRefs
from relay.config import parse_config
from relay.core.alerts import EscalatedTo, Escalation, Notification
from relay.core.errors import ConfigError, PermanentError, RetryableError
from tests.helpers.aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, refusal
from tests.helpers.phone import disk_full, send_through

VOICE, SMS = "https://dyvms.example", "https://dysms.example"
CONFIG = f"""
route: {{receiver: phones}}
receivers:
  - name: phones
    aliyun_voice_configs:
      - {{access_key_id: {ACCESS_KEY_ID}, access_key_secret: {ACCESS_KEY_SECRET}, tts_code: TTS_184820765,
          called_show_number: "057100000000", to: ["+8613800000001"], api_url: "{VOICE}", param_limit: 10}}
    aliyun_sms_configs:
      - {{access_key_id: {ACCESS_KEY_ID}, access_key_secret: {ACCESS_KEY_SECRET},
          template_code: SMS_154950909, sign_name: 接力告警, to: ["+8613800000001", "+85291234567"],
          api_url: "{SMS}", param_names: [group, detail], send_resolved: true}}
people:
  - {{name: lisi, display_name: 李四, phone: "+8613900000002"}}
  - {{name: alex, phone: "+14155550101"}}
"""


notification = disk_full


async def send(kind: str, n: Notification, refs: MemoryRefs | None = None, job: str = "0" * 32) -> Any:
    return await send_through(CONFIG, kind, n, refs, job)


ANSWERED = {
    "state": "200000",
    "stateDesc": "用户听音结束",
    "duration": 21,
    "startDate": "2026-12-07 03:00:05",
}


class Vendor:
    """The vendor's checks, then ``answers`` in turn (OK once they run out). A
    QueryCallDetailByCallId is answered from ``records`` (a record per query, in turn;
    then ANSWERED); ``forms`` are the other requests."""

    def __init__(
        self, *answers: tuple[int, dict[str, Any]], records: list[dict[str, Any] | None] | None = None
    ) -> None:
        self.answers = list(answers)
        self.records = list(records or [])
        self.forms: list[dict[str, str]] = []
        self.queries: list[dict[str, str]] = []
        self.nonces: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        refused = refusal(form, time.time(), self.nonces)
        assert refused is None, refused  # relay's signature is what Alibaba Cloud computes
        if form["Action"] == "QueryCallDetailByCallId":
            self.queries.append(form)
            record = self.records.pop(0) if self.records else ANSWERED
            data = json.dumps(record, ensure_ascii=False) if record is not None else ""
            return httpx.Response(200, json={"RequestId": "r", "Code": "OK", "Data": data})
        self.forms.append(form)
        status, body = (
            self.answers.pop(0) if self.answers else (200, {"Code": "OK", "CallId": "c^1", "BizId": "b^1"})
        )
        return httpx.Response(status, json={"RequestId": "r", **body})


async def test_a_call_is_signed_and_its_named_variables_fit(respx_mock: respx.MockRouter) -> None:
    vendor = Vendor()
    respx_mock.post(f"{VOICE}/").mock(side_effect=vendor)
    long = "很长的摘要" * 20 + "🔥"
    delivery = await send("aliyun_voice", notification(summary=long))
    (form,) = vendor.forms
    assert form["Action"] == "SingleCallByTts" and form["Version"] == "2017-05-25"
    assert form["CalledNumber"] == "13800000001" and form["CalledShowNumber"] == "057100000000"
    assert form["TtsCode"] == "TTS_184820765" and form["PlayTimes"] == "2"
    assert json.loads(form["TtsParam"]) == {"name": "DiskFull", "summary": long[:10]}
    assert delivery.data["results"][0] == {"to": "+86138****0001", "call_id": "c^1"}
    sent = json.dumps(delivery.sent)
    assert "13800000001" not in sent and "138****0001" in sent  # masked in the delivery log


async def test_an_sms_names_its_variables_and_writes_numbers_as_the_vendor_does(
    respx_mock: respx.MockRouter,
) -> None:
    vendor = Vendor()
    respx_mock.post(f"{SMS}/").mock(side_effect=vendor)
    delivery = await send("aliyun_sms", notification(summary="x" * 50))
    assert [f["PhoneNumbers"] for f in vendor.forms] == ["13800000001", "85291234567"]
    form = vendor.forms[0]
    assert form["Action"] == "SendSms" and form["SignName"] == "接力告警"
    assert form["TemplateCode"] == "SMS_154950909"
    params = json.loads(form["TemplateParam"])
    assert list(params) == ["group", "detail"] and all(len(v) <= 20 for v in params.values())
    assert [r["biz_id"] for r in delivery.data["results"]] == ["b^1", "b^1"]


async def test_an_sms_for_a_resolved_group_when_asked_and_never_a_call(respx_mock: respx.MockRouter) -> None:
    sms, voice = Vendor(), Vendor()
    respx_mock.post(f"{SMS}/").mock(side_effect=sms)
    respx_mock.post(f"{VOICE}/").mock(side_effect=voice)
    await send("aliyun_sms", notification(status="resolved"))
    await send("aliyun_voice", notification(status="resolved"))
    assert len(sms.forms) == 2 and voice.forms == []
    assert "已恢复" in sms.forms[0]["TemplateParam"] or "resolved" in sms.forms[0]["TemplateParam"]


async def test_an_escalation_step_calls_its_people_and_says_who_it_cannot_call(
    respx_mock: respx.MockRouter,
) -> None:
    vendor = Vendor()
    respx_mock.post(f"{VOICE}/").mock(side_effect=vendor)
    step = Escalation(
        policy="sre",
        step=2,
        steps=2,
        targets=[
            EscalatedTo(target="person:lisi", people=["lisi"]),
            EscalatedTo(target="person:alex", people=["alex"]),
        ],
    )
    delivery = await send("aliyun_voice", notification(escalation=step))
    assert [f["CalledNumber"] for f in vendor.forms] == ["13800000001", "13900000002"]
    abroad = delivery.data["results"][4]  # a call and its check per number before
    assert abroad["to"] == "+141****0101" and "mainland China" in abroad["skipped"]


@pytest.mark.parametrize(
    ("message", "wait"),
    [
        ("触发分钟级流控Permits:1", 60.0),
        ("触发小时级流控Permits:5", 3600.0),
        ("触发天级流控Permits:10", 86400.0),
    ],
)
async def test_flow_control_is_retried_after_the_window_it_names(
    respx_mock: respx.MockRouter, message: str, wait: float
) -> None:
    respx_mock.post(f"{VOICE}/").mock(
        side_effect=Vendor((200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": message}))
    )
    with pytest.raises(RetryableError) as caught:
        await send("aliyun_voice", notification())
    assert caught.value.retry_after == wait and not caught.value.throttled  # other numbers go on


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (400, "SignatureDoesNotMatch", "access_key_secret does not match access_key_id"),
        (404, "InvalidAccessKeyId.NotFound", "access_key_id does not exist"),
        (200, "isv.TTS_TEMPLATE_ILLEGAL", "tts_code is wrong or its template is not approved"),
        (200, "isv.MOBILE_NUMBER_ILLEGAL", "is not valid"),
        (200, "isv.PARAM_LENGTH_LIMIT", "lower param_limit"),
    ],
)
async def test_bad_settings_are_permanent_with_a_hint(
    respx_mock: respx.MockRouter, status: int, code: str, hint: str
) -> None:
    respx_mock.post(f"{VOICE}/").mock(side_effect=Vendor((status, {"Code": code, "Message": "m"})))
    with pytest.raises(PermanentError) as caught:
        await send("aliyun_voice", notification())
    assert hint in str(caught.value) and ACCESS_KEY_SECRET not in str(caught.value)
    assert "13800000001" not in str(caught.value)


def test_settings_are_checked_where_they_are_written() -> None:
    cases = {
        'to: ["+8613800000001"], api_url': ('to: ["+14155550101"], api_url', "mainland China"),
        "tts_code: TTS_184820765": ("tts_code: 184820765", "TTS_"),
        "param_names: [group, detail]": ("param_names: [group, detail-text]", "not template variable names"),
    }
    for before, (after, words) in cases.items():
        assert before in CONFIG
        with pytest.raises(ConfigError, match=words):
            parse_config(CONFIG.replace(before, after, 1), env={})


def test_the_error_table_in_the_docs_is_the_codes_hints() -> None:
    from relay.channels.aliyun import EXPLAIN, RETRYABLE_PREFIXES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "channels.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Alibaba Cloud voice and SMS") :]
    for code, hint in EXPLAIN.items():
        assert f"| `{code}` | permanent | {hint} |" in section, code
    for prefix in RETRYABLE_PREFIXES:
        assert f"`{prefix}" in section, prefix


async def test_how_a_call_ended_is_asked_until_the_vendor_knows(respx_mock: respx.MockRouter) -> None:
    """The check part after the call: retried (the call not placed again) while the vendor
    has no record, then the record says answered or not."""
    vendor = Vendor(
        records=[None, {"state": "200010", "stateDesc": "用户未接听", "duration": 0, "startDate": ""}]
    )
    respx_mock.post(f"{VOICE}/").mock(side_effect=vendor)
    refs = MemoryRefs()
    with pytest.raises(RetryableError) as caught:
        await send("aliyun_voice", notification(), refs, job="4" * 32)
    assert caught.value.reason == "call_in_progress" and caught.value.retry_after == 30.0
    assert "a retry resumes here" in str(caught.value)
    delivery = await send("aliyun_voice", notification(), refs, job="4" * 32)
    assert len(vendor.forms) == 1  # one call, asked about twice
    (first, second) = vendor.queries
    assert first["CallId"] == second["CallId"] == "c^1" and first["ProdId"] == "11000000300006"
    check = delivery.data["results"][-1]
    assert check["to"] == "+86138****0001"
    assert check["call"] == {"status": "用户未接听", "answered": False, "duration": 0}


async def test_an_answered_call_and_a_query_refused_are_said(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{VOICE}/").mock(side_effect=Vendor())
    delivery = await send("aliyun_voice", notification(), job="5" * 32)
    assert delivery.data["results"][-1]["call"] == {
        "status": "用户听音结束",
        "answered": True,
        "duration": 21,
    }

    def refused(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        if form["Action"] == "QueryCallDetailByCallId":
            return httpx.Response(403, json={"Code": "isp.RAM_PERMISSION_DENY", "Message": "no"})
        return httpx.Response(200, json={"Code": "OK", "CallId": "c^2"})

    respx_mock.post(f"{VOICE}/").mock(side_effect=refused)
    delivery = await send("aliyun_voice", notification(), job="6" * 32)  # delivered: the call went out
    assert delivery.data["results"][-1]["call"]["answered"] is None
    assert "AliyunDyvmsFullAccess" in delivery.data["results"][-1]["call"]["why"]


async def test_no_record_for_ten_minutes_is_unknown(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import relay.channels.aliyun_voice as aliyun_voice

    monkeypatch.setattr(aliyun_voice, "CHECK_FOR", 0.0)
    respx_mock.post(f"{VOICE}/").mock(side_effect=Vendor(records=[None]))
    delivery = await send("aliyun_voice", notification(), job="7" * 32)
    assert delivery.data["results"][-1]["call"] == {"status": "unknown", "answered": None}
