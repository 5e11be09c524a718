"""Twilio: a phone call that says the alert (TwiML ``<Say>`` in the message's language)
and/or an SMS, for teams outside mainland China. One call and one message per number
(relay.channels.phone); a resolved group never calls, and sends an SMS only with
``send_resolved: true``.

With ``global.external_url`` set, a call asks "press 1 to acknowledge" (``<Gather>``)
and tells relay how it ended (``StatusCallback``): both come back to
``/api/v1/twilio/voice/<job id>/...`` signed with the auth token
(relay.web.twilio_callback), so the group's timeline says whether the call was answered
and a key press acknowledges it. Escalation goes on until someone acknowledges; a call
answered by voicemail is not an acknowledgement.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from relay.channels.base import Channel, Message, NotifierContext
from relay.channels.http import Answer, call
from relay.channels.phone import E164, PhoneConfig, PhoneNotifier
from relay.core.errors import DeliveryError, PermanentError, RetryableError
from relay.core.said import Said
from relay.core.secrets import mask_phone
from relay.core.text import normalize_locale

API_URL = "https://api.twilio.com"
#: Where a call's callbacks come back (``<job id>`` then ``/status`` or ``/gather``).
CALLBACK_PATH = "/api/v1/twilio/voice"
#: Error codes -> what to change (https://www.twilio.com/docs/api/errors).
EXPLAIN = {
    20003: "account_sid or auth_token is wrong",
    20404: "account_sid names no account (or the API path is wrong)",
    21210: "from is not a number of this account, or not verified",
    21211: "a number in to (or a person's phone) is not valid",
    21212: "from is not a valid number",
    21214: "a number in to cannot be reached",
    21215: "the account's geo permissions do not allow calling that country",
    21217: "a number in to (or a person's phone) is not valid",
    21219: "a trial account calls verified numbers only",
    21408: "the account's geo permissions do not allow messages to that country",
    21606: "from cannot send SMS: use an SMS-capable number",
    21608: "a trial account sends to verified numbers only",
    21610: "the recipient replied STOP: they must reply START",
    21612: "from cannot send SMS to that number (or carrier)",
    21614: "a number in to is not a mobile number",
}
#: Codes (besides HTTP 429 and 5xx) worth waiting for: the account's concurrency limits.
RETRYABLE_CODES = {20429, 14107, 30001}
_TTS = {"en": ("en-US", ""), "zh-CN": ("cmn-CN", "Polly.Zhiyu")}
_WORDS = {
    "en": ("Press 1 to acknowledge.", "Acknowledged. Thank you.", "Goodbye."),
    "zh-CN": ("确认请按 1。", "已确认，谢谢。", "再见。"),
}


def twilio_error(what: str, answer: Answer) -> DeliveryError | None:
    """The error of a Twilio answer (``{"code": 21211, "message": ...}``); None for 2xx,
    and for 429 and 5xx, which the shared status rule retries (after ``Retry-After``,
    holding the account for a 429) with Twilio's body quoted."""
    if 200 <= answer.status < 300 or answer.status == 429 or answer.status >= 500:
        return None
    data = answer.data if isinstance(answer.data, dict) else {}
    code = data.get("code")
    text = f"{what}: HTTP {answer.status}"
    if code is not None:
        text += f", error {code}: {data.get('message', '')}"
    hint = EXPLAIN.get(code) if isinstance(code, int) else None
    if hint:
        text += f" ({hint})"
    reason = f"code_{code}" if code is not None else f"http_{answer.status}"
    if code in RETRYABLE_CODES:  # a limit answered with another status
        return RetryableError(reason, text, answer.retry_after or 1.0, throttled=True)
    return PermanentError(reason, text)


class TwilioConfig(PhoneConfig):
    kind: ClassVar[str] = "twilio"
    vendor_fields: ClassVar[tuple[str, ...]] = ("account_sid", "auth_token", "api_url")
    secret_fields: ClassVar[tuple[str, ...]] = ("auth_token",)

    account_sid: str
    auth_token: SecretStr
    from_: str = Field(alias="from")
    voice: bool = True
    sms: bool = False
    #: SMS only: a call is for firing alerts.
    send_resolved: bool = False
    api_url: str = API_URL
    #: ``<Say language=...>``; default from the locale (en-US, or cmn-CN for zh-CN).
    language: str = ""
    #: ``<Say voice=...>`` (Polly.Joanna, Google.en-US-Standard-C); default from the locale.
    tts_voice: str = ""
    #: How often the call says the message.
    say_times: int = Field(default=2, ge=1, le=5)
    #: Seconds the phone rings before the call counts as not answered.
    ring_timeout: int = Field(default=45, ge=5, le=600)
    param_limit: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("account_sid")
    @classmethod
    def _sid(cls, value: str) -> str:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("must be the Account SID the console shows (AC and 32 hex digits)")
        return value

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        if not E164.match(value):
            raise ValueError("must be a Twilio number in E.164 (+15005550006)")
        return value

    @model_validator(mode="after")
    def _something(self) -> TwilioConfig:
        if not (self.voice or self.sms):
            raise ValueError("voice and sms are both false: nothing would be sent")
        return self

    def without_external_url(self) -> tuple[str, str] | None:
        if not self.voice:
            return None
        return (
            "voice",
            Said(
                "global.external_url is not set: calls cannot be acknowledged by pressing 1"
                " and whether they were answered is not recorded",
                "未设置 global.external_url：接电话的人无法按 1 确认，也不会记录电话是否被接听",
            ),
        )

    def build(self, ctx: NotifierContext) -> TwilioNotifier:
        return TwilioNotifier(self, ctx)


def say_attributes(cfg: TwilioConfig, locale: str) -> str:
    """``<Say>``'s language and voice: the config's, else the locale's."""
    language, voice = _TTS.get(normalize_locale(locale), _TTS["en"])
    attrs = f" language={quoteattr(cfg.language or language)}"
    if cfg.tts_voice or (voice and not cfg.language):
        attrs += f" voice={quoteattr(cfg.tts_voice or voice)}"
    return attrs


def callback_base(relay_url: str, job_id: str) -> str:
    """Where a call of job ``job_id`` reports back; '' without relay's public URL."""
    return f"{relay_url}{CALLBACK_PATH}/{job_id}" if relay_url and len(job_id) == 32 else ""


class TwilioNotifier(PhoneNotifier[TwilioConfig]):
    """A call and/or an SMS per number, each one part."""

    what = "Twilio"
    default_param_limit = 200

    def __init__(self, config: TwilioConfig, ctx: NotifierContext) -> None:
        super().__init__(config, ctx)
        self.noun = "call" if not config.sms else "message" if not config.voice else "part"

    def account(self) -> str:
        return f"{self._cfg.api_url}|{self._cfg.account_sid}"

    @property
    def sends_resolved(self) -> bool:  # type: ignore[override]
        return self._cfg.sms and self._cfg.send_resolved

    def twiml(self, text: str, job_id: str) -> str:
        """What the call says: the text ``say_times`` times, and with relay's public URL,
        "press 1 to acknowledge"."""
        cfg = self._cfg
        press, _, bye = _WORDS.get(normalize_locale(self._locale), _WORDS["en"])
        attrs = say_attributes(cfg, self._locale)
        base = callback_base(self._ctx.renderer.relay_url, job_id)
        if not base:
            return f'<Response><Say{attrs} loop="{cfg.say_times}">{escape(text)}</Say></Response>'
        said = "".join(f"<Say{attrs}>{escape(text)} {press}</Say>" for _ in range(cfg.say_times))
        return (
            f'<Response><Gather numDigits="1" timeout="8" action={quoteattr(base + "/gather")}>'
            f"{said}</Gather><Say{attrs}>{bye}</Say></Response>"
        )

    def sentences(self, params: list[str]) -> str:
        """The lines as one text to say, each a sentence in the message's language."""
        chinese = normalize_locale(self._locale) == "zh-CN"
        stop = "。" if chinese else ". "
        return "".join(
            p if p.endswith((".", "。", "!", "！", "?", "？")) else p + stop for p in params
        ).strip()

    def requests(
        self, number: str, params: list[str], message: Message | None
    ) -> list[tuple[str, dict[str, Any]]]:
        cfg = self._cfg
        firing = message is None or bool(message.notification.firing)
        job_id = message.job_id if message is not None else ""
        found: list[tuple[str, dict[str, Any]]] = []
        if cfg.voice and firing:
            call_request = {
                "To": number,
                "From": cfg.from_,
                "Twiml": self.twiml(self.sentences(params), job_id),
                "Timeout": str(cfg.ring_timeout),
            }
            base = callback_base(self._ctx.renderer.relay_url, job_id)
            if base:
                call_request.update(
                    StatusCallback=base + "/status",
                    StatusCallbackEvent="completed",
                    StatusCallbackMethod="POST",
                )
            found.append(("call", call_request))
        if cfg.sms:
            found.append(("sms", {"To": number, "From": cfg.from_, "Body": "\n".join(params)}))
        return found

    async def deliver(self, number: str, medium: str, request: dict[str, Any], job: str) -> dict[str, Any]:
        cfg = self._cfg
        resource = "Calls" if medium == "call" else "Messages"
        url = f"{cfg.api_url}/2010-04-01/Accounts/{cfg.account_sid}/{resource}.json"
        what = f"{self.what} {'call' if medium == 'call' else 'SMS'}"
        answer = await call(
            self._ctx.http,
            "POST",
            url,
            what=what,
            request_timeout=self._ctx.timeout,
            secrets=[*cfg.secrets(), number],
            content=urlencode(request).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=httpx.BasicAuth(cfg.account_sid, cfg.auth_token.get_secret_value()),
            check=lambda answer: twilio_error(what, answer),
            check_text=True,
            expect_json=True,
        )
        sid = answer.data.get("sid") if isinstance(answer.data, dict) else None
        return {"call_sid" if medium == "call" else "message_sid": sid, "to": mask_phone(number)}


CHANNELS = (
    Channel(
        "twilio",
        TwilioConfig,
        templates=("twilio.params", "twilio.digest"),
        preview_settings={
            "account_sid": "AC" + "0" * 32,
            "auth_token": "preview",
            "from": "+15005550006",
            "to": ["+14155550101"],
            "voice": True,
            "sms": True,
        },
    ),
)
