"""Tencent Cloud voice and SMS against respx, the TC3-HMAC-SHA256 signature checked by an
implementation written here from Tencent Cloud's documentation (签名方法 v3), not relay's:
a signed request per channel, template variables within their limits (Chinese, emoji,
long values), numbers masked, throttling retried, bad credentials and unapproved
templates permanent with a hint, escalation people called, min_interval honoured."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from relay.channels.base import MemoryRefs
from relay.config import parse_config
from relay.core.alerts import EscalatedTo, Escalation, Notification
from relay.core.errors import ConfigError, PermanentError, RetryableError
from tests.helpers.phone import disk_full, send_through
from tests.helpers.tencent import SECRET_ID, SECRET_KEY
from tests.helpers.tencent import tc3_expected as expected_authorization

VOICE, SMS = "https://vms.example", "https://sms.example"
CONFIG = f"""
route: {{receiver: phones}}
receivers:
  - name: phones
    tencent_voice_configs:
      - {{secret_id: {SECRET_ID}, secret_key: {SECRET_KEY}, sdk_app_id: "1400000001", template_id: "1234567",
          to: ["+8613800000001"], api_url: "{VOICE}", param_limit: 10}}
    tencent_sms_configs:
      - {{secret_id: {SECRET_ID}, secret_key: {SECRET_KEY}, sdk_app_id: "1400000002", template_id: "7654321",
          sign_name: 接力告警, to: ["+8613800000001"], api_url: "{SMS}"}}
people:
  - {{name: lisi, display_name: 李四, phone: "+8613900000002"}}
"""


def tc3_expected(request: httpx.Request, service: str) -> str:
    headers = {k.lower(): v for k, v in request.headers.items()}
    return expected_authorization(headers, request.url.host, request.content, service)


notification = disk_full


async def send(kind: str, n: Notification, refs: MemoryRefs | None = None, job: str = "0" * 32) -> Any:
    return await send_through(CONFIG, kind, n, refs, job)


def ok_voice(request: httpx.Request) -> httpx.Response:
    assert request.headers["Authorization"] == tc3_expected(request, "vms")
    assert (
        request.headers["X-TC-Action"] == "SendTtsVoice" and request.headers["X-TC-Version"] == "2020-09-02"
    )
    return httpx.Response(200, json={"Response": {"SendStatus": {"CallId": "call-1"}, "RequestId": "r1"}})


async def test_a_call_is_signed_and_its_variables_fit(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{VOICE}/").mock(side_effect=ok_voice)
    long = "很长的摘要" * 20 + "🔥"
    delivery = await send("tencent_voice", notification(summary=long))
    body = json.loads(route.calls.last.request.content)
    assert body["CalledNumber"] == "+8613800000001" and body["VoiceSdkAppid"] == "1400000001"
    assert body["TemplateParamSet"] == ["DiskFull", long[:10]]
    assert delivery.data["results"] == [{"to": "+86138****0001", "call_id": "call-1"}]
    assert "+8613800000001" not in json.dumps(delivery.sent)  # the delivery log keeps it masked


async def test_an_escalation_step_also_calls_the_people_it_pages(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{VOICE}/").mock(side_effect=ok_voice)
    step = Escalation(
        policy="sre", step=2, steps=2, targets=[EscalatedTo(target="person:lisi", people=["lisi"])]
    )
    await send("tencent_voice", notification(escalation=step))
    called = [json.loads(c.request.content)["CalledNumber"] for c in route.calls]
    assert called == ["+8613800000001", "+8613900000002"]


async def test_a_resolved_group_never_calls(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{VOICE}/").mock(side_effect=ok_voice)
    await send("tencent_voice", notification(status="resolved"))
    assert route.call_count == 0
    with pytest.raises(ConfigError, match="a call is for firing alerts only"):
        parse_config(CONFIG.replace("param_limit: 10}", "param_limit: 10, send_resolved: true}"), env={})


async def test_the_same_group_is_not_called_again_within_min_interval(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{VOICE}/").mock(side_effect=ok_voice)
    refs = MemoryRefs()
    await send("tencent_voice", notification(), refs, job="1" * 32)
    second = await send("tencent_voice", notification(), refs, job="2" * 32)
    assert route.call_count == 1
    assert second.data["results"][0]["skipped"] == "sent within min_interval"
    step = Escalation(policy="sre", step=2, steps=2, targets=[])
    await send("tencent_voice", notification(escalation=step), refs, job="3" * 32)
    assert route.call_count == 2  # an escalation step always calls


@pytest.mark.parametrize(
    ("code", "error", "hint"),
    [
        ("LimitExceeded.AppDailyLimit", RetryableError, None),
        ("LimitExceeded.PhoneNumberOneHourLimit", RetryableError, None),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", RetryableError, None),
        ("RequestLimitExceeded", RetryableError, None),
        ("AuthFailure.SignatureFailure", PermanentError, "secret_key does not match secret_id"),
        ("FailedOperation.TemplateIncorrectOrUnapproved", PermanentError, "not approved"),
    ],
)
async def test_vendor_errors_are_sorted(
    respx_mock: respx.MockRouter, code: str, error: type, hint: str | None
) -> None:
    respx_mock.post(f"{VOICE}/").mock(
        return_value=httpx.Response(
            200, json={"Response": {"Error": {"Code": code, "Message": "m"}, "RequestId": "r"}}
        )
    )
    with pytest.raises(error) as caught:
        await send("tencent_voice", notification())
    assert caught.value.reason == "code_" + code.replace(".", "_")
    if hint:
        assert hint in str(caught.value)
    if isinstance(caught.value, RetryableError):  # waited out for the window the code names
        windows = {"Daily": 86400.0, "OneHour": 3600.0, "ThirtySecond": 30.0, "RequestLimit": 1.0}
        assert caught.value.retry_after == next(w for k, w in windows.items() if k in code)


async def test_an_sms_is_signed_and_a_numbers_own_failure_counts(respx_mock: respx.MockRouter) -> None:
    answers = iter(
        [
            {
                "Response": {
                    "SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit", "Message": "m"}]
                }
            },
            {"Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": "s-1", "Message": "send success"}]}},
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == tc3_expected(request, "sms")
        assert request.headers["X-TC-Action"] == "SendSms" and request.headers["X-TC-Version"] == "2021-01-11"
        return httpx.Response(200, json=next(answers))

    route = respx_mock.post(f"{SMS}/").mock(side_effect=answer)
    with pytest.raises(RetryableError):
        await send("tencent_sms", notification())
    delivery = await send("tencent_sms", notification())
    body = json.loads(route.calls.last.request.content)
    assert body["PhoneNumberSet"] == ["+8613800000001"] and body["SignName"] == "接力告警"
    assert all(len(p) <= 12 for p in body["TemplateParamSet"])
    assert delivery.data["results"] == [{"to": "+86138****0001", "serial_no": "s-1"}]


def test_the_error_table_in_the_docs_is_the_codes_hints() -> None:
    from pathlib import Path

    from relay.channels.tencent import EXPLAIN, RETRYABLE_PREFIXES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "channels.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Tencent Cloud voice and SMS") :]
    for code, hint in EXPLAIN.items():
        assert f"| `{code}` | permanent | {hint} |" in section, code
    for prefix in RETRYABLE_PREFIXES:
        assert f"`{prefix}" in section, prefix
