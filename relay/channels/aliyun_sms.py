"""Alibaba Cloud SMS (短信服务, ``SendSms``): an approved template with a signature (签名),
its variables filled from the ``aliyun_sms.params`` template and named by
``param_names``. One message per number (relay.channels.phone); resolved groups only
with ``send_resolved: true``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from relay.channels.aliyun import AliyunPhoneConfig, AliyunPhoneNotifier, national
from relay.channels.base import Channel, NotifierContext

SMS_API_URL = "https://dysmsapi.aliyuncs.com"


class AliyunSmsConfig(AliyunPhoneConfig):
    kind: ClassVar[str] = "aliyun_sms"

    api_url: str = SMS_API_URL
    template_code: str
    sign_name: str
    send_resolved: bool = False

    @field_validator("template_code", mode="before")
    @classmethod
    def _template_code(cls, value: object) -> str:
        value = str(value)
        if not value.startswith("SMS_"):
            raise ValueError("must be the template's code as the console shows it (SMS_...)")
        return value

    def build(self, ctx: NotifierContext) -> AliyunSmsNotifier:
        return AliyunSmsNotifier(self, ctx)


class AliyunSmsNotifier(AliyunPhoneNotifier[AliyunSmsConfig]):
    """Sends the template to each number; one message is one part."""

    noun = "message"
    action = "SendSms"
    what = "Alibaba Cloud SMS"
    medium = "sms"
    # A variable of the 其他 kind holds 35 characters; relay stays within the stricter
    # limits of names and numbers unless param_limit says otherwise.
    default_param_limit = 20

    @property
    def sends_resolved(self) -> bool:  # type: ignore[override]
        return self._cfg.send_resolved

    def request(self, number: str, variables: str) -> dict[str, str]:
        cfg = self._cfg
        return {
            "PhoneNumbers": national(number),
            "SignName": cfg.sign_name,
            "TemplateCode": cfg.template_code,
            "TemplateParam": variables,
        }

    def result(self, answer: dict[str, Any]) -> dict[str, Any]:
        return {"biz_id": answer.get("BizId")}


CHANNELS = (
    Channel(
        "aliyun_sms",
        AliyunSmsConfig,
        templates=("aliyun_sms.params", "aliyun_sms.digest"),
        preview_settings={
            "access_key_id": "LTAIpreview",
            "access_key_secret": "preview",
            "template_code": "SMS_000000001",
            "sign_name": "接力告警",
            "to": ["+8613800000001"],
        },
    ),
)
