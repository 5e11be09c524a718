"""What every channel shares: its config base, the notifier contract and its context."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import httpx
from pydantic import Field

from relay.models import Notification
from relay.secrets import SecretFieldsModel

if TYPE_CHECKING:
    from relay.config import Config
    from relay.store.base import Store
    from relay.templating import Renderer

Locale = Literal["en", "zh-CN"]


class ChannelConfig(SecretFieldsModel):
    """Keys every ``*_configs`` entry accepts."""

    kind: ClassVar[str] = ""  # "email", "slack", ...: the integration type in ids and metrics

    send_resolved: bool = True
    locale: Locale | None = Field(default=None, description="overrides global.locale")

    def secrets(self) -> list[str]:
        """Every secret value of this config, for redaction."""
        values: list[str] = []
        for name in self.secret_fields:
            value = getattr(self, name, None)
            if value is not None and hasattr(value, "get_secret_value"):
                values.append(value.get_secret_value())
        return values

    @abc.abstractmethod
    def build(self, ctx: NotifierContext) -> Notifier:
        """The notifier for this entry; built once per config load."""


@dataclass(frozen=True)
class Message:
    """One delivery attempt's input: the notification and the job it belongs to."""

    job_id: str  # stable across attempts: Idempotency-Key, Message-ID seed
    notification: Notification
    integration: str  # "<receiver>/<type>/<index>"
    attempt: int = 1


@dataclass
class Delivery:
    """A successful delivery; ``detail`` notes partial success (recipients refused...)."""

    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotifierContext:
    """Everything I/O a notifier may use, handed in (nothing is created at import)."""

    config: Config
    http: httpx.AsyncClient
    renderer: Renderer
    store: Store
    timeout: float


class Notifier(abc.ABC):
    """Sends one message. Returns a Delivery or raises RetryableError / PermanentError.

    Never loops, never sleeps: retrying lives in the dispatcher.
    """

    #: Key shared by every notifier that talks to the same rate-limited destination
    #: (one WeCom robot, one Slack channel); None means not rate limited.
    rate_limit_key: str | None = None
    #: Messages per minute allowed for that destination.
    rate_limit_per_minute: float | None = None

    @abc.abstractmethod
    async def send(self, message: Message) -> Delivery: ...

    def messages_for(self, message: Message) -> int:
        """How many messages ``send`` posts (WeCom split parts, Slack posts), so the rate
        limiter counts what the destination counts."""
        return 1

    def rendered(
        self, message: Message, render: Callable[[Message], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """``render(message)``, once per message: the dispatcher counts the bodies
        (messages_for) and then sends them, and rendering is the costly part."""
        cached: tuple[Message, list[dict[str, Any]]] | None = getattr(self, "_rendered_last", None)
        if cached is not None and cached[0] is message:
            return cached[1]
        bodies = render(message)
        self._rendered_last = (message, bodies)
        return bodies

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most notifiers hold nothing
        """Release resources (SMTP connections, SDK clients)."""
