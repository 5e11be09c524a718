"""Alibaba Cloud voice notifications (语音服务, ``SingleCallByTts``): a phone call that
reads an approved TTS template, its variables filled from the ``aliyun_voice.params``
template and named by ``param_names``. One call per number (relay.channels.phone);
resolved groups never call. The vendor calls numbers in mainland China only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from relay.channels.aliyun import AliyunPhoneConfig, AliyunPhoneNotifier, national
from relay.channels.base import Channel, Message, NotifierContext
from relay.channels.phone import SKIP

VOICE_API_URL = "https://dyvmsapi.aliyuncs.com"
MAINLAND_ONLY = "Alibaba Cloud voice calls numbers in mainland China (+86) only"


class AliyunVoiceConfig(AliyunPhoneConfig):
    kind: ClassVar[str] = "aliyun_voice"

    api_url: str = VOICE_API_URL
    tts_code: str
    #: The caller number shown (号显): one bought in the console's 号码管理; empty for the
    #: public pool of a voice notification.
    called_show_number: str = ""
    play_times: int = Field(default=2, ge=1, le=3)
    #: A call is for firing alerts only.
    send_resolved: bool = False

    @field_validator("send_resolved")
    @classmethod
    def _never_resolved(cls, value: bool) -> bool:
        if value:
            raise ValueError("a call is for firing alerts only: use an SMS channel for resolved ones")
        return value

    @field_validator("tts_code", mode="before")
    @classmethod
    def _tts_code(cls, value: object) -> str:
        value = str(value)
        if not value.startswith("TTS_"):
            raise ValueError("must be the template's code as the console shows it (TTS_...)")
        return value

    @field_validator("to")
    @classmethod
    def _mainland(cls, value: list[str]) -> list[str]:
        if any(not number.startswith("+86") for number in value):
            raise ValueError(MAINLAND_ONLY)
        return value

    def build(self, ctx: NotifierContext) -> AliyunVoiceNotifier:
        return AliyunVoiceNotifier(self, ctx)


class AliyunVoiceNotifier(AliyunPhoneNotifier[AliyunVoiceConfig]):
    """Calls each number with the TTS template; one call is one part."""

    noun = "call"
    action = "SingleCallByTts"
    what = "Alibaba Cloud voice"

    def requests(
        self, number: str, params: list[str], message: Message | None
    ) -> list[tuple[str, dict[str, Any]]]:
        if not number.startswith("+86"):  # a person's phone abroad: said, not sent
            return [(SKIP, {"reason": MAINLAND_ONLY})]
        return super().requests(number, params, message)

    def request(self, number: str, variables: str) -> dict[str, str]:
        cfg = self._cfg
        found = {
            "CalledNumber": national(number),
            "TtsCode": cfg.tts_code,
            "TtsParam": variables,
            "PlayTimes": str(cfg.play_times),
        }
        if cfg.called_show_number:
            found["CalledShowNumber"] = cfg.called_show_number
        return found

    def result(self, answer: dict[str, Any]) -> dict[str, Any]:
        return {"call_id": answer.get("CallId")}


CHANNELS = (
    Channel(
        "aliyun_voice",
        AliyunVoiceConfig,
        templates=("aliyun_voice.params", "aliyun_voice.digest"),
        preview_settings={
            "access_key_id": "LTAIpreview",
            "access_key_secret": "preview",
            "tts_code": "TTS_000000001",
            "called_show_number": "057100000000",
            "to": ["+8613800000001"],
        },
    ),
)
