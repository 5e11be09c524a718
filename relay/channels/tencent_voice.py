"""Tencent Cloud voice messages (语音消息, ``SendTtsVoice``): a phone call that reads an
approved TTS template, its variables filled from the ``tencent_voice.params``
template. One call per number (relay.channels.phone); resolved groups never call.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from relay.channels.base import Channel, NotifierContext
from relay.channels.tencent import TencentPhoneConfig, TencentPhoneNotifier

VOICE_API_URL = "https://vms.tencentcloudapi.com"


class TencentVoiceConfig(TencentPhoneConfig):
    kind: ClassVar[str] = "tencent_voice"

    api_url: str = VOICE_API_URL
    play_times: int = Field(default=2, ge=1, le=3)
    #: A call is for firing alerts only.
    send_resolved: bool = False

    @field_validator("send_resolved")
    @classmethod
    def _never_resolved(cls, value: bool) -> bool:
        if value:
            raise ValueError("a call is for firing alerts only: use an SMS channel for resolved ones")
        return value

    def build(self, ctx: NotifierContext) -> TencentVoiceNotifier:
        return TencentVoiceNotifier(self, ctx)


class TencentVoiceNotifier(TencentPhoneNotifier[TencentVoiceConfig]):
    """Calls each number with the TTS template; one call is one part."""

    noun = "call"
    service, action, version = "vms", "SendTtsVoice", "2020-09-02"
    what = "Tencent Cloud voice"

    def request(self, number: str, params: list[str]) -> dict[str, Any]:
        cfg = self._cfg
        return {
            "TemplateId": cfg.template_id,
            "TemplateParamSet": params,
            "CalledNumber": number,
            "VoiceSdkAppid": cfg.sdk_app_id,
            "PlayTimes": cfg.play_times,
        }

    def result(self, response: dict[str, Any]) -> dict[str, Any]:
        status = response.get("SendStatus")
        return {"call_id": status.get("CallId") if isinstance(status, dict) else None}


CHANNELS = (
    Channel(
        "tencent_voice",
        TencentVoiceConfig,
        templates=("tencent_voice.params", "tencent_voice.digest"),
        preview_settings={
            "secret_id": "AKIDpreview",
            "secret_key": "preview",
            "sdk_app_id": "1400000001",
            "template_id": "1234567",
            "to": ["+8613800000001"],
        },
    ),
)
