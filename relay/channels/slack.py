"""Slack: incoming webhooks or the Web API with a bot token (slack-sdk), Block Kit messages."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr, model_validator

from relay.channels.base import ChannelConfig, Notifier, NotifierContext

SLACK_API_BASE = "https://slack.com/api/"


class SlackConfig(ChannelConfig):
    kind: ClassVar[str] = "slack"
    secret_fields: ClassVar[tuple[str, ...]] = ("api_url", "token")

    api_url: SecretStr | None = None  # incoming-webhook URL; with token, the Web API base
    token: SecretStr | None = None
    channel: str | None = None
    update_on_resolve: bool = False
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    rate_limit_per_minute: float = 60.0

    @model_validator(mode="after")
    def _mode(self) -> SlackConfig:
        if self.token is None:
            if self.api_url is None:
                raise ValueError("set api_url (incoming webhook) or token and channel (bot)")
            if self.update_on_resolve:
                raise ValueError("update_on_resolve needs a bot token (token and channel)")
        elif not self.channel:
            raise ValueError("channel is required with token")
        return self

    @property
    def bot_mode(self) -> bool:
        return self.token is not None

    def build(self, ctx: NotifierContext) -> Notifier:
        return SlackNotifier(self, ctx)
