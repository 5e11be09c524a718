"""Feishu / Lark through an app (自建应用 with the bot ability): cards sent into a chat
with the IM API, as the app's bot, whose buttons call relay back.

The app's ``tenant_access_token`` comes from ``auth/v3/tenant_access_token/internal``.
It is cached per app, shared by every notifier of the process, and asked for again when
Feishu says it is no longer valid. A message is ``POST
/open-apis/im/v1/messages?receive_id_type=chat_id`` with the card as a JSON string.

With ``verification_token`` (the app's 事件与回调 settings), firing cards carry
Acknowledge / Silence buttons whose presses Feishu sends to ``/api/v1/feishu/callback``
(relay.web.feishu_callback). Without it, the buttons open relay's action pages, as the
custom bot's do. The cards are the custom bot's (relay.channels.feishu): the same
templates, splitting and mentions.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from pydantic import SecretStr, field_validator

from relay.channels.base import Channel, Message, NotifierContext, destination_key
from relay.channels.feishu import FEISHU_HOSTS, FeishuCards, FeishuCardSettings
from relay.channels.http import Answer, call, errcode_check
from relay.channels.tokens import TokenCache
from relay.core.durations import format_duration
from relay.core.errors import DeliveryError, PermanentError, RetryableError
from relay.core.rates import Rate
from relay.templating.split import compact_json

FEISHU_API_URL = f"https://{FEISHU_HOSTS[0]}"
#: Feishu's codes for an access token that is no longer valid: ask for a new one.
TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991668})
_APP_ID = re.compile(r"^cli_[A-Za-z0-9]{6,64}$")
_CHAT_ID = re.compile(r"^oc_[A-Za-z0-9]{6,64}$")
#: A button's value: this key, then an action token (relay.core.actions).
VALUE_KEY = "relay"
BUTTONS = {
    "en": {"ack": "Acknowledge", "silence": "Silence {d}"},
    "zh-CN": {"ack": "确认", "silence": "静默 {d}"},
}
EXPLAIN = {
    230002: "the app's bot is not in this chat: add the bot to the group (群设置 → 群机器人)",
    230013: "the bot cannot send to this chat (it was removed, or the chat does not accept bots)",
    99991672: "the app lacks a permission: grant im:message:send_as_bot and publish a version",
    10003: "app_id or app_secret is wrong",
}
_CHECK = errcode_check(
    "code",
    "msg",
    retryable={11232: None, 230020: None, 99991400: None},
    what="Feishu app",
    reason_prefix="code",
    explain=EXPLAIN,
    throttled=frozenset({11232, 230020, 99991400}),
)


class FeishuAppConfig(FeishuCardSettings):
    kind: ClassVar[str] = "feishu_app"
    vendor_fields: ClassVar[tuple[str, ...]] = ("api_url", "app_secret")
    secret_fields: ClassVar[tuple[str, ...]] = ("app_secret", "verification_token", "encrypt_key")

    app_id: str
    app_secret: SecretStr
    chat_id: str
    api_url: str = FEISHU_API_URL
    # The app's 事件与回调 settings: with the token, firing cards get buttons that call
    # relay back; the encrypt key, when set in Feishu, too.
    verification_token: SecretStr | None = None
    encrypt_key: SecretStr | None = None

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        if not _APP_ID.match(value):
            raise ValueError("must be the app's App ID, like cli_a1b2c3d4e5f6 (开发者后台 → 凭证与基础信息)")
        return value

    @field_validator("chat_id")
    @classmethod
    def _chat_id(cls, value: str) -> str:
        if not _CHAT_ID.match(value):
            raise ValueError("must be a group's chat_id, like oc_a0553eda9014c201e6969b478895c230")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(
                f"must be a URL starting with https:// ({FEISHU_API_URL} or https://{FEISHU_HOSTS[1]})"
            )
        return value.rstrip("/")

    @property
    def buttons(self) -> bool:
        """Whether presses call relay back (else buttons open relay's action pages)."""
        return self.verification_token is not None

    def build(self, ctx: NotifierContext) -> FeishuAppNotifier:
        return FeishuAppNotifier(self, ctx)


def app_check(answer: Answer) -> DeliveryError | None:
    """``code`` 0 delivered; throttling retried; everything else permanent, explained."""
    if answer.status >= 500 and not isinstance(answer.data, dict):
        return None
    return _CHECK(answer)


class FeishuAppNotifier(FeishuCards[FeishuAppConfig]):
    """Sends the cards (or text) as the app's bot into one chat."""

    #: Shared by every notifier of the process, so a reload keeps valid tokens.
    shared_tokens: ClassVar[TokenCache] = TokenCache()
    family = "feishu_app"

    def __init__(self, config: FeishuAppConfig, ctx: NotifierContext) -> None:
        super().__init__(config, ctx)
        self._tokens = self.shared_tokens
        self._key = (config.api_url, config.app_id, "tenant")
        self._secrets = config.secrets()
        self.noun = "card" if config.msgtype == "interactive" else "part"
        self.rate_limit_key = destination_key(
            "feishu_app", f"{config.api_url}|{config.app_id}|{config.chat_id}"
        )
        self.rate_limits = (
            Rate(config.rate_limit_per_second, 1.0),
            Rate.per_minute(config.rate_limit_per_minute),
        )

    def action_buttons(self, n: Any) -> list[dict[str, Any]]:
        """With callbacks: buttons whose value is an action token (Feishu sends it back);
        else the custom bot's buttons that open relay's pages."""
        if not self._cfg.buttons:
            return super().action_buttons(n)
        words = BUTTONS[self._locale]
        return [
            {
                "tag": "button",
                "text": {
                    "tag": "plain_text",
                    "content": words["ack"]
                    if action == "a"
                    else words["silence"].format(d=format_duration(seconds)),
                },
                "type": "primary" if action == "a" else "default",
                "value": {VALUE_KEY: token},
            }
            for action, seconds, token in self._ctx.renderer.action_tokens(n)
        ]

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The bot's bodies; a card shared by everyone who sees it (``update_multi``), so a
        press's outcome shows to the whole chat."""
        bodies = super().render_parts(message)
        for body in bodies:
            if "card" in body:
                body["card"]["config"]["update_multi"] = True
        return bodies

    async def _post(self, body: dict[str, Any]) -> None:
        token = await self.access_token()
        try:
            await self._send(token, body)
        except PermanentError as exc:
            if exc.reason not in {f"code_{code}" for code in TOKEN_CODES}:
                raise
            self._tokens.drop(self._key, token)
            await self._send(await self.access_token(), body)

    async def _send(self, token: str, body: dict[str, Any]) -> None:
        content = body["card"] if "card" in body else body["content"]
        request = {
            "receive_id": self._cfg.chat_id,
            "msg_type": body["msg_type"],
            "content": json.dumps(content, ensure_ascii=False, separators=(",", ":")),
        }
        await call(
            self._ctx.http,
            "POST",
            f"{self._cfg.api_url}/open-apis/im/v1/messages?receive_id_type=chat_id",
            what="Feishu app",
            request_timeout=self._ctx.timeout,
            secrets=[*self._secrets, token],
            content=compact_json(request),
            headers={"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {token}"},
            check=app_check,
            expect_json=True,
        )

    async def access_token(self) -> str:
        """The app's tenant_access_token (cached; for the callback's card updates too)."""
        return await self._tokens.fetch(self._key, self._tenant_token)

    async def _tenant_token(self) -> tuple[str, float]:
        answer = await call(
            self._ctx.http,
            "POST",
            f"{self._cfg.api_url}/open-apis/auth/v3/tenant_access_token/internal",
            what="Feishu tenant_access_token",
            request_timeout=self._ctx.timeout,
            secrets=self._secrets,
            json={"app_id": self._cfg.app_id, "app_secret": self._cfg.app_secret.get_secret_value()},
            check=app_check,
            expect_json=True,
        )
        data = answer.data if isinstance(answer.data, dict) else {}
        token, expire = data.get("tenant_access_token"), data.get("expire")
        if not isinstance(token, str) or not token:
            raise RetryableError("bad_response", "tenant_access_token: no token in the answer")
        return token, float(expire) if isinstance(expire, int | float) and expire > 0 else 7200.0


CHANNELS = (
    Channel(
        "feishu_app",
        FeishuAppConfig,
        templates=("feishu_app.title", "feishu_app.alert", "feishu_app.text", "feishu_app.digest"),
        single_line=("feishu_app.title",),
        per_alert=("feishu_app.alert",),
        preview_settings={"app_id": "cli_preview0", "app_secret": "preview", "chat_id": "oc_preview0"},
    ),
)
