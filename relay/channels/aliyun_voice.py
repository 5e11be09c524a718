"""Alibaba Cloud voice notifications (语音服务, ``SingleCallByTts``): a phone call that
reads an approved TTS template, its variables filled from the ``aliyun_voice.params``
template and named by ``param_names``. One call per number (relay.channels.phone);
resolved groups never call. The vendor calls numbers in mainland China only.

How a call ended is asked for, not pushed: after each call comes a part that asks
``QueryCallDetailByCallId``. Until the vendor has the call's record (it rings, it
plays) that part is retried every ``check_every``, resuming after the call (the
call itself is never placed again); its answer, answered or not, goes on the group's
timeline. After ``CHECK_FOR`` without a record, or when the query is refused, the
result is "unknown": the call was placed, and the job is delivered either way.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator

from relay.channels.aliyun import AliyunPhoneConfig, AliyunPhoneNotifier, national
from relay.channels.base import Channel, Message, NotifierContext
from relay.channels.phone import CHECK, SKIP
from relay.core.durations import Duration, within
from relay.core.errors import PermanentError, RetryableError

VOICE_API_URL = "https://dyvmsapi.aliyuncs.com"
MAINLAND_ONLY = "Alibaba Cloud voice calls numbers in mainland China (+86) only"
#: QueryCallDetailByCallId's product id of a voice notification (语音通知).
VOICE_NOTIFICATION_PRODUCT = "11000000300006"
#: For how long after a call its record is asked for.
CHECK_FOR = 600.0
#: How long a placed call's id is kept for its check.
CALL_REF_TTL = 86400.0


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
    #: Ask how each call ended (QueryCallDetailByCallId) and put it on the timeline,
    #: every ``check_every`` until the vendor has the call's record.
    check_answered: bool = True
    check_every: Annotated[Duration, within(1, 600)] = 30.0

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

    action = "SingleCallByTts"
    what = "Alibaba Cloud voice"

    def __init__(self, config: AliyunVoiceConfig, ctx: NotifierContext) -> None:
        super().__init__(config, ctx)
        self.noun = "part" if config.check_answered else "call"  # a call, then its check

    def requests(
        self, number: str, params: list[str], message: Message | None
    ) -> list[tuple[str, dict[str, Any]]]:
        if not number.startswith("+86"):  # a person's phone abroad: said, not sent
            return [(SKIP, {"reason": MAINLAND_ONLY})]
        found = super().requests(number, params, message)
        if self._cfg.check_answered and message is not None and not message.once:
            found.append((CHECK, {"ProdId": VOICE_NOTIFICATION_PRODUCT}))
        return found

    async def deliver(self, number: str, medium: str, request: dict[str, Any], job: str) -> dict[str, Any]:
        if medium == CHECK:
            return await self.check(number, request, job)
        kept = await super().deliver(number, medium, request, job)
        if job and kept.get("call_id"):
            at = self._ctx.renderer.now().timestamp()
            await self._ctx.store.set_ref(
                self._call_ref(job, number), {"call_id": kept["call_id"], "at": at}, CALL_REF_TTL
            )
        return kept

    @staticmethod
    def _call_ref(job: str, number: str) -> str:
        return f"aliyun-call:{job}:{number}"

    async def check(self, number: str, request: dict[str, Any], job: str) -> dict[str, Any]:
        """How the call this job placed to ``number`` ended: ``{"call": {...}}`` for the
        timeline, or a RetryableError while the vendor has no record yet."""
        placed = await self._ctx.store.get_ref(self._call_ref(job, number))
        if placed is None:
            return {"check": "no call placed (sent within min_interval)"}
        call_id, at = str(placed["call_id"]), float(placed["at"])
        query = {"CallId": call_id, "QueryDate": str(int(at * 1000)), "ProdId": request["ProdId"]}
        try:
            answer = await self.rpc("QueryCallDetailByCallId", query, number)
        except PermanentError as exc:  # e.g. the RAM user may not query: the call still went out
            return {
                "call_id": call_id,
                "call": {"status": "unknown", "answered": None, "why": exc.message[:200]},
            }
        record = _record(answer.get("Data"))
        if record is None:  # the vendor writes the record when the call has ended
            if self._ctx.renderer.now().timestamp() - at < CHECK_FOR:
                raise RetryableError(
                    "call_in_progress",
                    f"{self.what}: call {call_id} has no result yet",
                    self._cfg.check_every,
                )
            return {"call_id": call_id, "call": {"status": "unknown", "answered": None}}
        duration = int(record.get("duration") or 0)
        answered = bool(record.get("startDate")) or duration > 0
        status = str(record.get("stateDesc") or record.get("state") or "")
        return {
            "call_id": call_id,
            "call": {"status": status[:40], "answered": answered, "duration": duration},
        }

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


def _record(data: Any) -> dict[str, Any] | None:
    """``Data`` of QueryCallDetailByCallId: a JSON object in a string (None when empty)."""
    if isinstance(data, dict):
        return data
    if not isinstance(data, str) or not data.strip():
        return None
    try:
        found = json.loads(data)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
