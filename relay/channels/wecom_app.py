"""WeCom (企业微信) application messages: an app of the company sends to users, departments
or tags, with an access token cached per app (the group robot is wecom.py)."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import SecretStr, field_validator, model_validator

from relay.channels.base import Channel, Message, NotifierContext, PartsConfig, destination_key
from relay.channels.http import Answer, error_redacted
from relay.channels.tokens import TokenCache
from relay.channels.wecom import (
    CONTENT_LIMITS,
    INVALID_KEYS,
    TOKEN_ERRCODES,
    WECOM_API_BASE,
    WeComPoster,
    digest_contents,
    wecom_call,
    wecom_check,
)
from relay.channels.wecom_crypto import aes_key
from relay.core.durations import format_duration
from relay.core.errors import RetryableError
from relay.core.rates import Rate

if TYPE_CHECKING:
    from relay.core.digests import Digest

logger = logging.getLogger("relay.channels.wecom")


class WeComAppConfig(PartsConfig):
    """Application messages (应用消息) through the corp API."""

    kind: ClassVar[str] = "wecom_app"
    vendor_fields: ClassVar[tuple[str, ...]] = ("api_url", "api_secret")
    secret_fields: ClassVar[tuple[str, ...]] = ("api_secret", "token", "encoding_aes_key")

    corp_id: str
    agent_id: int
    api_secret: SecretStr
    to_user: str | None = None
    to_party: str | None = None
    to_tag: str | None = None
    api_url: str = WECOM_API_BASE
    msgtype: Literal["markdown", "text"] = "markdown"
    rate_limit_per_minute: float = 30.0
    # The app's callback settings (接收消息: URL, Token, EncodingAESKey): with both, firing
    # messages end with a button card (Acknowledge, Silence) whose presses WeCom sends to
    # /api/v1/wecom/callback.
    token: SecretStr | None = None
    encoding_aes_key: SecretStr | None = None

    @model_validator(mode="after")
    def _callback_pair(self) -> WeComAppConfig:
        if (self.token is None) != (self.encoding_aes_key is None):
            raise ValueError("token and encoding_aes_key go together (the app's 接收消息 settings)")
        if self.encoding_aes_key is not None:
            aes_key(self.encoding_aes_key.get_secret_value())
        return self

    @property
    def buttons(self) -> bool:
        return self.token is not None and self.encoding_aes_key is not None

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _recipients(self) -> WeComAppConfig:
        if not (self.to_user or self.to_party or self.to_tag):
            self.to_user = "@all"
        return self

    def build(self, ctx: NotifierContext) -> WeComAppNotifier:
        return WeComAppNotifier(self, ctx)


CARD_WORDS = {
    "en": {"desc": "{n} firing: act on it here", "ack": "Acknowledge", "silence": "Silence {d}"},
    "zh-CN": {"desc": "{n} 条告警中：在此处理", "ack": "确认", "silence": "静默 {d}"},
}


class WeComAppNotifier(WeComPoster[WeComAppConfig]):
    """Sends through ``message/send`` with a cached access_token; an invalid or expired
    token (40014, 41001, 42001) is dropped, refetched and the message resent once."""

    #: Shared by every notifier of the process, so a config reload keeps valid tokens.
    shared_tokens: ClassVar[TokenCache] = TokenCache()

    def __init__(
        self, config: WeComAppConfig, ctx: NotifierContext, tokens: TokenCache | None = None
    ) -> None:
        super().__init__(config, ctx, config.msgtype)
        self._tokens = tokens if tokens is not None else WeComAppNotifier.shared_tokens
        secret = config.api_secret.get_secret_value()
        self._secrets = [secret, quote(secret, safe="")]
        self._key = (config.api_url, config.corp_id, hashlib.sha256(secret.encode()).hexdigest())
        where = f"{config.api_url}|{config.corp_id}|{config.agent_id}"
        self.rate_limit_key = destination_key("wecom_app", where)
        self.rate_limits = (Rate.per_minute(config.rate_limit_per_minute),)

    def button_card(self, message: Message, to: dict[str, str]) -> dict[str, Any] | None:
        """A ``button_interaction`` template card after a firing message: Acknowledge
        and each silence, each button's key an action token (``r:<token>``); its task id
        the job's, so a press names the message."""
        n = message.notification
        tokens = self._ctx.renderer.action_tokens(n) if self._cfg.buttons else []
        if not tokens:
            return None
        words = CARD_WORDS[self._locale]
        title = " ".join(n.group_labels.values()) or n.common_labels.get("alertname", "") or n.receiver
        return {
            **to,
            "agentid": self._cfg.agent_id,
            "msgtype": "template_card",
            "template_card": {
                "card_type": "button_interaction",
                "main_title": {"title": title[:26], "desc": words["desc"].format(n=len(n.firing))},
                "task_id": f"relay-{message.job_id}",
                "button_list": [
                    {
                        "text": words["ack"]
                        if action == "a"
                        else words["silence"].format(d=format_duration(seconds)),
                        "style": 1 if action == "a" else 2,
                        "key": f"r:{token}",
                    }
                    for action, seconds, token in tokens
                ],
            },
        }

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The JSON bodies ``send`` would POST to message/send, in order. An escalation
        step's message also goes to each person it pages who has a WeCom userid."""
        msgtype, n = self._cfg.msgtype, message.notification
        directory = self._ctx.addresses("wecom")
        paged = [directory[p] for p in n.escalation.people if p in directory] if n.escalation else []
        # With the button card, the text needs no links that do the same.
        extra: dict[str, Any] = {"actions": []} if self._cfg.buttons and n.firing else {}
        bodies = self._bodies(
            self.render_split(f"wecom_app.{msgtype}", n, CONTENT_LIMITS[msgtype], **extra),
            paged if n.firing else [],
        )
        to = {k: v for k, v in bodies[0].items() if k in ("touser", "toparty", "totag")}
        card = self.button_card(message, to)
        return [*bodies, card] if card is not None else bodies

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        return self._bodies(
            digest_contents(self._ctx, "wecom_app.digest", digest, self._locale, self._cfg.msgtype)
        )

    def _bodies(self, contents: list[str], paged: list[str] | None = None) -> list[dict[str, Any]]:
        cfg, msgtype = self._cfg, self._cfg.msgtype
        users = cfg.to_user
        if paged and users != "@all":
            # touser is "|"-separated userids; "@all" already reaches everyone.
            users = "|".join(dict.fromkeys([*(users.split("|") if users else []), *paged]))
        to = {"touser": users, "toparty": cfg.to_party, "totag": cfg.to_tag}
        recipients = {k: v for k, v in to.items() if v}
        return [
            {**recipients, "agentid": cfg.agent_id, "msgtype": msgtype, msgtype: {"content": c}}
            for c in contents
        ]

    async def _post(self, body: dict[str, Any]) -> None:
        token = await self._token()
        data = await self._message_send(token, body)
        if data.get("errcode") in TOKEN_ERRCODES:
            self._tokens.drop(self._key, token)
            token = await self._token()
            data = await self._message_send(token, body)
        secrets = [*self._secrets, token]
        error = wecom_check("WeCom message/send")(_json_answer(data))
        if error is not None:
            raise error_redacted(error, secrets)
        invalid = [f"{k}={data[k]}" for k in INVALID_KEYS if data.get(k)]
        if invalid:
            logger.warning(
                "WeCom app %s: some recipients are invalid: %s",
                self._cfg.agent_id,
                ", ".join(invalid),
            )

    async def _message_send(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._cfg.api_url}message/send?access_token={quote(token, safe='')}"
        return await wecom_call(
            self._ctx,
            "POST",
            url,
            what="WeCom message/send",
            json=body,
            secrets=[*self._secrets, token],
            check=False,
        )

    async def access_token(self) -> str:
        """The app's access token (cached, shared): for the callback's card updates."""
        return await self._token()

    async def _token(self) -> str:
        return await self._tokens.fetch(self._key, self._gettoken)

    async def _gettoken(self) -> tuple[str, float]:
        cfg = self._cfg
        url = (
            f"{cfg.api_url}gettoken?corpid={quote(cfg.corp_id, safe='')}"
            f"&corpsecret={quote(cfg.api_secret.get_secret_value(), safe='')}"
        )
        data = await wecom_call(self._ctx, "GET", url, what="WeCom gettoken", secrets=self._secrets)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise RetryableError("bad_response", "gettoken: no access_token in the answer")
        expires_in = data.get("expires_in")
        return token, float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 7200.0


def _json_answer(data: dict[str, Any]) -> Answer:
    return Answer(200, httpx.Headers(), "", data)


CHANNELS = (
    Channel(
        "wecom_app",
        WeComAppConfig,
        templates=("wecom_app.markdown", "wecom_app.text", "wecom_app.digest"),
        preview_settings={"corp_id": "preview", "agent_id": 1000002, "api_secret": "preview"},
    ),
)
