"""DingTalk custom robot (钉钉自定义机器人): markdown or text into one group chat.

A robot takes 20 messages a minute and, past that, refuses everything for 10 minutes
(errcode 130101): relay's limiter keeps every robot at 20 per rolling minute, counting
each part of a split message. Signed robots (加签) get a fresh ``timestamp`` and ``sign``
on every request. Answers are HTTP 200 with ``errcode``; only 0 is success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, quote_plus, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from relay.channels.base import (
    Channel,
    ChannelConfig,
    Delivery,
    Message,
    Notifier,
    NotifierContext,
    Preview,
    parts_preview,
)
from relay.channels.http import Answer, call, errcode_check
from relay.channels.parts import send_parts
from relay.channels.split import split_rendered
from relay.channels.urls import url_secret_parts
from relay.digest import Digest, DigestMessage, render_digest
from relay.errors import DeliveryError, PermanentError
from relay.models import Notification
from relay.ratelimit import Rate

DINGTALK_API_URL = "https://oapi.dingtalk.com/robot/send"
#: DingTalk refuses a body over 20,000 bytes (460101, formerly 101002): relay counts the
#: whole JSON body as posted, in UTF-8.
BODY_LIMIT = 20000
#: 20 messages a minute per robot; going over blocks the robot for 10 minutes.
PER_MINUTE = 20
BLOCKED_FOR = 600.0
THROTTLED = 130101
SECURITY = 310000

#: What 310000 means, by the words in DingTalk's errmsg (one code for three settings).
_SECURITY_HINTS = (
    ("sign", "加签: check secret, and that this host's clock is within an hour of DingTalk's"),
    ("keyword", "关键词: every message must contain one of the robot's keywords (see "
                "docs/channels.md for words every relay message has)"),
    ("ip", "IP 地址（段）: add the address relay connects from to the robot's list"),
)
_TOO_LONG = "the body is over 20,000 bytes: relay splits its own messages, so a custom " \
            "template that is not additive got here"
_MENTION_SPLIT = re.compile(r"[\s,;|]+")
_MOBILE = re.compile(r"^\+?[0-9][0-9-]{4,19}$")
_USERID = re.compile(r"^[A-Za-z0-9_.$-]{1,64}$")
#: Markdown punctuation that formats inline (values are put on one line, after a prefix).
_MARKDOWN = re.compile(r"[\\`*_\[\]<>~|]")


def dingtalk_escape(value: Any, mode: str = "markdown") -> str:
    """A value from an alert made inert in a DingTalk message (a template filter).

    "@" becomes the full-width "＠", so a label cannot look like a mention; in ``markdown``
    newlines become spaces and formatting punctuation is backslash-escaped (no bold, link,
    HTML or font tag from a label); ``url`` makes a link target safe inside ``(...)``."""
    text = "" if value is None else str(value)
    if mode == "url":
        return text.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    text = text.replace("@", "＠")
    if mode == "text":
        return text
    return _MARKDOWN.sub(r"\\\g<0>", " ".join(text.splitlines()))


def signature(secret: str, timestamp_ms: int) -> str:
    """``sign`` for a 加签 robot: Base64 of HMAC-SHA256(key=secret, timestamp + "\\n" +
    secret), URL-encoded for the query string."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(digest.digest()).decode())


class DingTalkConfig(ChannelConfig):
    kind: ClassVar[str] = "dingtalk"
    secret_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "access_token", "secret")

    webhook_url: SecretStr | None = None
    access_token: SecretStr | None = None
    api_url: str = DINGTALK_API_URL
    secret: SecretStr | None = None
    msgtype: Literal["markdown", "text"] = "markdown"
    at_mobiles: list[str] = Field(default_factory=list)
    at_user_ids: list[str] = Field(default_factory=list)
    at_all: bool = False
    mention_label: str | None = None
    rate_limit_per_minute: float = Field(default=PER_MINUTE, gt=0, le=PER_MINUTE)

    @field_validator("webhook_url")
    @classmethod
    def _full_url(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value() if value is not None else None
        if url is not None and not url.startswith(("https://", "http://")):
            # A secret: the message describes it, never echoes it.
            raise ValueError(f"must be a full URL ({DINGTALK_API_URL}?access_token=...)"
                             if url else "is empty")
        if url and urlsplit(url).hostname == "oapi.dingtalk.com" and "access_token=" not in url:
            raise ValueError("has no access_token=...: copy the robot's whole Webhook URL")
        return value

    @field_validator("access_token", "secret")
    @classmethod
    def _bare_value(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value() if value is not None else None
        if text == "":
            raise ValueError("is empty")
        if text is not None and ("://" in text or "access_token=" in text):
            found = dict(parse_qsl(urlsplit(text).query)).get("access_token", "")
            raise ValueError(f"is a URL: set the value after access_token= ({len(found)} "
                             "characters), or set webhook_url instead")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value:
            raise ValueError(f"must be a URL without a query, like {DINGTALK_API_URL}")
        return value

    @model_validator(mode="after")
    def _one_address(self) -> DingTalkConfig:
        if (self.webhook_url is None) == (self.access_token is None):
            raise ValueError("set exactly one of webhook_url or access_token")
        return self

    @property
    def url(self) -> str:
        if self.webhook_url is not None:
            return self.webhook_url.get_secret_value()
        assert self.access_token is not None
        return f"{self.api_url}?access_token={quote_plus(self.access_token.get_secret_value())}"

    def secrets(self) -> list[str]:
        return list(dict.fromkeys([*super().secrets(), *url_secret_parts(self.url)]))

    def build(self, ctx: NotifierContext) -> Notifier:
        return DingTalkNotifier(self, ctx)


def dingtalk_check(answer: Answer) -> DeliveryError | None:
    """errcode 0 delivered; 130101 retried once the robot's block is over; 310000 (security
    settings) and every other code permanent, 310000 and "too long" with relay's hint."""
    error = errcode_check(
        "errcode", "errmsg", retryable={THROTTLED: BLOCKED_FOR}, what="DingTalk robot",
        throttled=frozenset({THROTTLED}), explain={460101: _TOO_LONG, 101002: _TOO_LONG},
    )(answer)
    if isinstance(error, PermanentError) and error.reason == f"errcode_{SECURITY}":
        words = str(answer.data.get("errmsg") or "").lower()
        hints = [hint for key, hint in _SECURITY_HINTS if key in words]
        hint = "; ".join(hints or [hint for _, hint in _SECURITY_HINTS])
        return PermanentError(error.reason, f"{error.message} (the robot's 安全设置 refused "
                                            f"it: {hint})")
    return error


class DingTalkNotifier(Notifier):
    """POSTs markdown or text to one robot; mentions from config and alert labels."""

    throttle_block = BLOCKED_FOR

    def __init__(self, config: DingTalkConfig, ctx: NotifierContext,
                 now: Callable[[], float] = time.time) -> None:
        self._cfg = config
        self._ctx = ctx
        self._now = now  # the signature's timestamp; tests pin it
        self._url = config.url
        self._secrets = config.secrets()
        self._locale = config.locale or ctx.config.global_.locale
        self.rate_limit_key = f"dingtalk:{hashlib.sha256(self._url.encode()).hexdigest()[:16]}"
        self.rate_limits = (Rate.per_minute(config.rate_limit_per_minute),)

    def mentions(self, n: Notification) -> tuple[list[str], list[str], bool]:
        """(mobiles, userids, everyone): the static ones, then ``mention_label`` values of
        the firing alerts; nobody when no alert is firing. Only the config pings all."""
        if not n.firing:
            return [], [], False
        mobiles, userids = list(self._cfg.at_mobiles), list(self._cfg.at_user_ids)
        label = self._cfg.mention_label
        for alert in n.firing if label else ():
            for item in _MENTION_SPLIT.split(alert.labels.get(label or "", "")):
                if _MOBILE.match(item):
                    mobiles.append(item)
                elif _USERID.match(item) and item.lower() not in ("all", "everyone"):
                    userids.append(item)
        return list(dict.fromkeys(mobiles)), list(dict.fromkeys(userids)), self._cfg.at_all

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The JSON bodies ``send`` would POST, in order (before signing)."""
        n = message.notification
        mobiles, userids, everyone = self.mentions(n)
        at: dict[str, Any] = {}
        if mobiles:
            at["atMobiles"] = mobiles
        if userids:
            at["atUserIds"] = userids
        if everyone:
            at["isAtAll"] = True
        # DingTalk pings a mobile or userid of markdown only where "@<it>" is in the text.
        suffix = "\n\n" + " ".join(f"@{who}" for who in [*mobiles, *userids]) if at else ""
        name = f"dingtalk.{self._cfg.msgtype}"

        def render(indices: Sequence[int], last: bool) -> str:
            return self._ctx.renderer.render(
                name, n, locale=self._locale, alerts=[n.alerts[i] for i in indices],
                truncated_alerts=n.truncated_alerts if last else 0,
            ).strip()

        title = _title(render((), False))
        # The first part also carries the mentions: every part is split with room for them.
        reserve = _size({"at": at}) + len(json.dumps(suffix, ensure_ascii=False)) if at else 0
        texts = split_rendered(render, len(n.alerts), BODY_LIMIT - reserve,
                               measure=lambda text: _size(self._body(text, title)))
        bodies = [self._body(text, title) for text in texts]
        if at:
            bodies[0] = {**self._body(texts[0] + suffix, title), "at": at}
        return bodies

    def _body(self, text: str, title: str) -> dict[str, Any]:
        if self._cfg.msgtype == "text":
            return {"msgtype": "text", "text": {"content": text}}
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}

    def messages_for(self, message: Message) -> int:
        return len(self.rendered(message, self.render_parts))

    def preview(self, message: Message) -> Preview:
        bodies = self.render_parts(message)
        return parts_preview("dingtalk", bodies, [_size(b) for b in bodies], BODY_LIMIT, "bytes")

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        """The digest in this robot's msgtype, split between groups to the body limit. A
        digest mentions nobody: the groups' own messages wake people."""
        first = render_digest(self._ctx.renderer, "dingtalk.digest", digest,
                              locale=self._locale, limit=None, msgtype=self._cfg.msgtype)[0]
        title = _title(first)
        texts = render_digest(self._ctx.renderer, "dingtalk.digest", digest, locale=self._locale,
                              limit=BODY_LIMIT, msgtype=self._cfg.msgtype,
                              measure=lambda text: _size(self._body(text, title)))
        return [self._body(text, title) for text in texts]

    async def send_digest(self, message: DigestMessage) -> Delivery:
        return await send_parts(self._ctx, message, self.digest_bodies(message.digest), self._post)

    async def send(self, message: Message) -> Delivery:
        bodies = self.rendered(message, self.render_parts)
        return await send_parts(self._ctx, message, bodies, self._post)

    async def _post(self, body: dict[str, Any]) -> None:
        url, secrets = self._url, self._secrets
        if self._cfg.secret is not None:  # signed afresh: DingTalk refuses an hour-old one
            stamp = int(self._now() * 1000)
            sign = signature(self._cfg.secret.get_secret_value(), stamp)
            url += f"{'&' if '?' in url else '?'}timestamp={stamp}&sign={sign}"
            secrets = [*secrets, sign]
        await call(
            self._ctx.http, "POST", url, what="DingTalk robot", request_timeout=self._ctx.timeout,
            secrets=secrets, check=dingtalk_check, expect_json=True, content=_encode(body),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _size(body: dict[str, Any]) -> int:
    return len(_encode(body))


def _title(header: str) -> str:
    """The conversation list's preview line: the first line of the message, as plain text."""
    for line in header.splitlines():
        plain = re.sub(r"\\(.)", r"\1", re.sub(r"<[^>]*>|[*#>`]", "", line)).strip()
        if plain:
            return plain[:100]
    return "alert"


CHANNELS = (
    Channel(
        "dingtalk", DingTalkConfig,
        templates=("dingtalk.markdown", "dingtalk.text", "dingtalk.digest"),
        preview_settings={"access_token": "preview"},
        filters={"dingtalk_escape": dingtalk_escape},
    ),
)
