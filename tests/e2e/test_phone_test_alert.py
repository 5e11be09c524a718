"""`relay test-alert --receiver` against local fakes of every phone vendor, each checking
its own signature or credentials (written in the tests from the vendors' documentation):
one call or message per number, `ok` per integration, and a throttling answer, a bad key
and an unapproved template reported in the vendor's words with the hint. No number or
key whole in the output."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from relay.cli.commands import main
from tests.helpers.aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, FakeAliyun
from tests.helpers.tencent import SECRET_ID, SECRET_KEY, FakeTencentVoice
from tests.helpers.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

PHONE = "+8613912345678"


def config(tmp_path: Path, aliyun: str, tencent: str, twilio: str, secret: str = ACCESS_KEY_SECRET) -> str:
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(f"""
        route: {{receiver: phones}}
        receivers:
          - name: phones
            aliyun_voice_configs:
              - {{access_key_id: {ACCESS_KEY_ID}, access_key_secret: {secret}, tts_code: TTS_184820765,
                  to: ["{PHONE}"], api_url: "{aliyun}"}}
            aliyun_sms_configs:
              - {{access_key_id: {ACCESS_KEY_ID}, access_key_secret: {secret}, template_code: SMS_154950909,
                  sign_name: 接力告警, to: ["{PHONE}"], api_url: "{aliyun}"}}
            tencent_voice_configs:
              - {{secret_id: {SECRET_ID}, secret_key: {SECRET_KEY}, sdk_app_id: "1400000001",
                  template_id: "1234567", to: ["{PHONE}"], api_url: "{tencent}"}}
            twilio_configs:
              - {{account_sid: {ACCOUNT_SID}, auth_token: {AUTH_TOKEN}, from: "+15005550006",
                  to: ["{PHONE}"], sms: true, api_url: "{twilio}"}}
        """)
    )
    return str(path)


def run(*args: str) -> tuple[int, str]:
    """The exit code and what is printed on stdout (one line per integration); config
    warnings go to stderr."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


def test_every_phone_channel_places_its_test_call(tmp_path: Path) -> None:
    with FakeAliyun() as aliyun, FakeTencentVoice() as tencent, FakeTwilio() as twilio:
        code, out = run(
            "test-alert", "--receiver", "phones", "--severity", "critical",
            "--config", config(tmp_path, aliyun.url, tencent.url, twilio.url),
        )  # fmt: skip
        assert code == 0, out
        assert sorted(out.splitlines()) == [
            "phones/aliyun_sms/0: ok",
            "phones/aliyun_voice/0: ok",
            "phones/tencent_voice/0: ok",
            "phones/twilio/0: ok (2 parts)",  # a call and an SMS
        ]
        assert aliyun.refused == [] and tencent.refused == []
        assert sorted(c["Action"] for c in aliyun.calls) == ["SendSms", "SingleCallByTts"]
        assert all(c.get("CalledNumber", c.get("PhoneNumbers")) == "13912345678" for c in aliyun.calls)
        assert [c["CalledNumber"] for c in tencent.calls] == [PHONE]
        assert [c["To"] for c in twilio.calls] == [PHONE] and [m["To"] for m in twilio.messages] == [PHONE]
        assert "RelayTestAlert" in twilio.messages[0]["Body"]
        assert PHONE not in out


def test_vendor_refusals_are_reported_with_their_hint(tmp_path: Path) -> None:
    with FakeAliyun() as aliyun, FakeTencentVoice() as tencent, FakeTwilio() as twilio:
        aliyun.answers = [(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发小时级流控Permits:5"})]
        twilio.answers = [
            (400, {}, {"code": 21219, "message": f"The number {PHONE} is unverified.", "status": 400})
        ]
        code, out = run(
            "test-alert", "--receiver", "phones",
            "--config", config(tmp_path, aliyun.url, tencent.url, twilio.url),
        )  # fmt: skip
        assert code == 1, out
        assert "isv.BUSINESS_LIMIT_CONTROL" in out
        assert "21219" in out and "a trial account calls verified numbers only" in out
        assert PHONE not in out and AUTH_TOKEN not in out
        # A wrong key: the fake computes the signature with the real one.
        code, out = run(
            "test-alert", "--receiver", "phones",
            "--config", config(tmp_path, aliyun.url, tencent.url, twilio.url, secret="wrong-secret-0000"),
        )  # fmt: skip
        assert "SignatureDoesNotMatch" in out and "access_key_secret does not match access_key_id" in out
        assert "wrong-secret-0000" not in out
