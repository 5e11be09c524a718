"""Generic webhooks: the v4 payload (or a template) with idempotency and HMAC signature."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from relay.channels.base import ChannelConfig, Notifier, NotifierContext
from relay.durations import Duration
from relay.secrets import SecretFieldsModel


class BasicAuth(SecretFieldsModel):
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)

    username: str
    password: SecretStr


class WebhookConfig(ChannelConfig):
    kind: ClassVar[str] = "webhook"
    secret_fields: ClassVar[tuple[str, ...]] = ("url", "bearer_token", "hmac_secret")

    url: SecretStr
    headers: dict[str, str] = Field(default_factory=dict)
    basic_auth: BasicAuth | None = None
    bearer_token: SecretStr | None = None
    timeout: Duration | None = None
    max_alerts: int = Field(default=0, ge=0)
    body_template: str | None = None
    hmac_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> WebhookConfig:
        if self.basic_auth is not None and self.bearer_token is not None:
            raise ValueError("set basic_auth or bearer_token, not both")
        url = self.url.get_secret_value()
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self

    def secrets(self) -> list[str]:
        values = super().secrets()
        if self.basic_auth is not None:
            values.append(self.basic_auth.password.get_secret_value())
        return values

    def build(self, ctx: NotifierContext) -> Notifier:
        return WebhookNotifier(self, ctx)
