"""WeCom (企业微信): the group robot webhook and application messages."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from relay.channels.base import ChannelConfig, Notifier, NotifierContext

WECOM_ROBOT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
WECOM_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


class WeComConfig(ChannelConfig):
    """The group robot (群机器人)."""

    kind: ClassVar[str] = "wecom"
    secret_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "key")

    webhook_url: SecretStr | None = None
    key: SecretStr | None = None
    msgtype: Literal["markdown", "text"] = "markdown"
    mentioned_list: list[str] = Field(default_factory=list)
    mentioned_mobile_list: list[str] = Field(default_factory=list)
    mention_label: str | None = None
    rate_limit_per_minute: float = 20.0

    @model_validator(mode="after")
    def _one_address(self) -> WeComConfig:
        if (self.webhook_url is None) == (self.key is None):
            raise ValueError("set exactly one of webhook_url or key")
        return self

    @property
    def url(self) -> str:
        if self.webhook_url is not None:
            return self.webhook_url.get_secret_value()
        assert self.key is not None
        return f"{WECOM_ROBOT_URL}?key={self.key.get_secret_value()}"

    def build(self, ctx: NotifierContext) -> Notifier:
        return WeComNotifier(self, ctx)


class WeComAppConfig(ChannelConfig):
    """Application messages (应用消息) through the corp API."""

    kind: ClassVar[str] = "wecom_app"
    secret_fields: ClassVar[tuple[str, ...]] = ("api_secret",)

    corp_id: str
    agent_id: int
    api_secret: SecretStr
    to_user: str | None = None
    to_party: str | None = None
    to_tag: str | None = None
    api_url: str = WECOM_API_BASE
    msgtype: Literal["markdown", "text"] = "markdown"
    rate_limit_per_minute: float = 30.0

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _recipients(self) -> WeComAppConfig:
        if not (self.to_user or self.to_party or self.to_tag):
            self.to_user = "@all"
        return self

    def build(self, ctx: NotifierContext) -> Notifier:
        return WeComAppNotifier(self, ctx)
