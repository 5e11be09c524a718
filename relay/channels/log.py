"""The log channel: writes the rendered notification to relay's own log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar, Literal

from relay.channels.base import (
    Channel,
    ChannelConfig,
    Delivery,
    Message,
    Notifier,
    NotifierContext,
    Preview,
)

if TYPE_CHECKING:
    from relay.core.digests import Digest, DigestMessage

logger = logging.getLogger("relay.notification")


class LogConfig(ChannelConfig):
    kind: ClassVar[str] = "log"

    level: Literal["debug", "info", "warning", "error"] = "info"

    def build(self, ctx: NotifierContext) -> Notifier:
        return LogNotifier(self, ctx)


class LogNotifier(Notifier):
    def __init__(self, config: LogConfig, ctx: NotifierContext) -> None:
        self._level = logging.getLevelName(config.level.upper())
        self._locale = config.locale or ctx.locale
        self._renderer = ctx.renderer

    def preview(self, message: Message) -> Preview:
        text = self._renderer.render_text("log", message.notification, locale=self._locale)
        return Preview(text=text, note="log: written to relay's log", parts=[text])

    async def send(self, message: Message) -> Delivery:
        text = self._renderer.render_text("log", message.notification, locale=self._locale)
        n = message.notification
        logger.log(
            self._level,
            text,
            extra={
                "job_id": message.job_id,
                "receiver": n.receiver,
                "integration": message.integration,
                "group_key": n.group_key,
                "status": n.status,
                "alerts": len(n.alerts),
            },
        )
        return Delivery(sent=[text])

    def digest_bodies(self, digest: Digest) -> list[str]:
        from relay.templating.digest import render_digest

        return render_digest(self._renderer, "log.digest", digest, locale=self._locale, limit=None)

    async def send_digest(self, message: DigestMessage) -> Delivery:
        digest = message.digest
        text = self.digest_bodies(digest)[0]
        logger.log(
            self._level,
            text,
            extra={
                "job_id": message.job_id,
                "receiver": digest.receiver,
                "integration": message.integration,
                "digest": digest.kind,
                "groups": digest.groups,
                "alerts": digest.alerts,
            },
        )
        return Delivery(sent=[text])


CHANNELS = (Channel("log", LogConfig, templates=("log.txt", "log.digest")),)
