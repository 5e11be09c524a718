"""Tencent Cloud SMS (短信, ``SendSms`` 2021-01-11): an approved template with a signature
(签名), its variables filled from the ``tencent_sms.params`` template. One message per
number (relay.channels.phone); resolved groups only with ``send_resolved: true``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from relay.channels.base import Channel, NotifierContext
from relay.channels.tencent import TencentPhoneConfig, TencentPhoneNotifier, code_error

SMS_API_URL = "https://sms.tencentcloudapi.com"


class TencentSmsConfig(TencentPhoneConfig):
    kind: ClassVar[str] = "tencent_sms"

    api_url: str = SMS_API_URL
    sign_name: str
    send_resolved: bool = False

    def build(self, ctx: NotifierContext) -> TencentSmsNotifier:
        return TencentSmsNotifier(self, ctx)


class TencentSmsNotifier(TencentPhoneNotifier[TencentSmsConfig]):
    """Sends the template to each number; one message is one part."""

    noun = "message"
    service, action, version = "sms", "SendSms", "2021-01-11"
    what = "Tencent Cloud SMS"
    default_param_limit = 12  # a variable of a domestic template, unless approved longer
    medium = "sms"

    @property
    def sends_resolved(self) -> bool:  # type: ignore[override]
        return self._cfg.send_resolved

    def request(self, number: str, params: list[str]) -> dict[str, Any]:
        cfg = self._cfg
        return {
            "PhoneNumberSet": [number],
            "SmsSdkAppId": cfg.sdk_app_id,
            "SignName": cfg.sign_name,
            "TemplateId": cfg.template_id,
            "TemplateParamSet": params,
        }

    def result(self, response: dict[str, Any]) -> dict[str, Any]:
        """The number's own status: the request succeeds even when the number failed."""
        statuses = response.get("SendStatusSet")
        status = statuses[0] if isinstance(statuses, list) and statuses else {}
        code = str(status.get("Code", "")) if isinstance(status, dict) else ""
        if code != "Ok":
            raise code_error(self.what, code or "bad_response", str(status.get("Message", "")))
        return {"serial_no": status.get("SerialNo")}


CHANNELS = (
    Channel(
        "tencent_sms",
        TencentSmsConfig,
        templates=("tencent_sms.params", "tencent_sms.digest"),
        preview_settings={
            "secret_id": "AKIDpreview",
            "secret_key": "preview",
            "sdk_app_id": "1400000001",
            "template_id": "1234567",
            "sign_name": "接力告警",
            "to": ["+8613800000001"],
        },
    ),
)
