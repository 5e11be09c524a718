"""Channels: one module each; CHANNEL_TYPES maps a receiver key to its config class."""

from __future__ import annotations

from relay.channels.base import ChannelConfig
from relay.channels.email import EmailConfig
from relay.channels.log import LogConfig
from relay.channels.slack import SlackConfig
from relay.channels.webhook import WebhookConfig
from relay.channels.wecom import WeComAppConfig, WeComConfig

CHANNEL_TYPES: dict[str, type[ChannelConfig]] = {
    "log_configs": LogConfig,
    "email_configs": EmailConfig,
    "slack_configs": SlackConfig,
    "wecom_configs": WeComConfig,
    "wecom_app_configs": WeComAppConfig,
    "webhook_configs": WebhookConfig,
}

__all__ = ["CHANNEL_TYPES", "ChannelConfig"]
