"""Email over SMTP (aiosmtplib): multipart text + HTML, threaded per group."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from relay.channels.base import ChannelConfig, Notifier, NotifierContext
from relay.durations import Duration


class EmailConfig(ChannelConfig):
    kind: ClassVar[str] = "email"
    secret_fields: ClassVar[tuple[str, ...]] = ("auth_password",)

    to: list[str]
    from_: str = Field(alias="from")
    cc: list[str] = Field(default_factory=list)
    smarthost: str
    hello: str = "localhost"
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    require_tls: bool = True  # STARTTLS on a plain connection
    tls: bool | None = None  # implicit TLS; None: on when the port is 465
    tls_insecure_skip_verify: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    subject: str | None = None  # a template string overriding the built-in subject
    timeout: Duration | None = None

    @field_validator("to", "cc", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("to")
    @classmethod
    def _some_recipient(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one recipient is required")
        return value

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return self.smarthost.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.smarthost.rpartition(":")[2])

    def build(self, ctx: NotifierContext) -> Notifier:
        return EmailNotifier(self, ctx)
