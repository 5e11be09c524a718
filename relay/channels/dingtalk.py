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
from collections.abc import Callable
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, quote_plus, urlsplit

from pydantic import Field, SecretStr, field_validator

from relay.channels.base import Channel, Message, NotifierContext, destination_key
from relay.channels.http import Answer, call, errcode_check
from relay.channels.mentions import mentions
from relay.channels.parts import PostingNotifier
from relay.channels.urls import WebhookOrTokenConfig, secret_url_check, url_secret_parts
from relay.core.digests import Digest
from relay.core.errors import DeliveryError, PermanentError
from relay.core.rates import Rate
from relay.templating.digest import render_digest
from relay.templating.split import compact_json, json_bytes, split_rendered

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
    (
        "keyword",
        "关键词: every message must contain one of the robot's keywords (see "
        "docs/channels.md for words every relay message has)",
    ),
    ("ip", "IP 地址（段）: add the address relay connects from to the robot's list"),
)
_TOO_LONG = (
    "the body is over 20,000 bytes: relay splits its own messages, so a custom "
    "template that is not additive got here"
)
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


class DingTalkConfig(WebhookOrTokenConfig):
    kind: ClassVar[str] = "dingtalk"
    vendor_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "access_token", "secret", "api_url")
    secret_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "access_token", "secret")
    token_field: ClassVar[str] = "access_token"

    access_token: SecretStr | None = None
    api_url: str = DINGTALK_API_URL
    secret: SecretStr | None = None
    msgtype: Literal["markdown", "text"] = "markdown"
    at_mobiles: list[str] = Field(default_factory=list)
    at_user_ids: list[str] = Field(default_factory=list)
    at_all: bool = False
    mention_label: str | None = None
    rate_limit_per_minute: float = Field(default=PER_MINUTE, gt=0, le=PER_MINUTE)

    _full_url = secret_url_check("webhook_url", f"must be a full URL ({DINGTALK_API_URL}?access_token=...)")

    @field_validator("webhook_url")
    @classmethod
    def _has_token(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value() if value is not None else None
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
            raise ValueError(
                f"is a URL: set the value after access_token= ({len(found)} "
                "characters), or set webhook_url instead"
            )
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value:
            raise ValueError(f"must be a URL without a query, like {DINGTALK_API_URL}")
        return value

    def token_url(self, token: str) -> str:
        return f"{self.api_url}?access_token={quote_plus(token)}"

    def secrets(self) -> list[str]:
        return list(dict.fromkeys([*super().secrets(), *url_secret_parts(self.url)]))

    def build(self, ctx: NotifierContext) -> DingTalkNotifier:
        return DingTalkNotifier(self, ctx)


def dingtalk_check(answer: Answer) -> DeliveryError | None:
    """errcode 0 delivered; 130101 retried once the robot's block is over; 310000 (security
    settings) and every other code permanent, 310000 and "too long" with relay's hint."""
    error = errcode_check(
        "errcode",
        "errmsg",
        retryable={THROTTLED: BLOCKED_FOR},
        what="DingTalk robot",
        throttled=frozenset({THROTTLED}),
        explain={460101: _TOO_LONG, 101002: _TOO_LONG},
    )(answer)
    if isinstance(error, PermanentError) and error.reason == f"errcode_{SECURITY}":
        words = str(answer.data.get("errmsg") or "").lower()
        hints = [hint for key, hint in _SECURITY_HINTS if key in words]
        hint = "; ".join(hints or [hint for _, hint in _SECURITY_HINTS])
        return PermanentError(error.reason, f"{error.message} (the robot's 安全设置 refused it: {hint})")
    return error


class DingTalkNotifier(PostingNotifier[DingTalkConfig]):
    """POSTs markdown or text to one robot; mentions from config and alert labels."""

    throttle_block = BLOCKED_FOR
    limit = BODY_LIMIT

    def __init__(
        self, config: DingTalkConfig, ctx: NotifierContext, now: Callable[[], float] = time.time
    ) -> None:
        super().__init__(config, ctx)
        self._now = now  # the signature's timestamp; tests pin it
        self._url = config.url
        self._secrets = config.secrets()
        self.rate_limit_key = destination_key("dingtalk", self._url)
        self.rate_limits = (Rate.per_minute(config.rate_limit_per_minute),)

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The JSON bodies ``send`` would POST, in order (before signing). Mentions: the
        config's, then ``mention_label`` values of the firing alerts; nobody when no alert
        is firing. Only the config pings everyone."""
        n, cfg = message.notification, self._cfg
        mobiles, userids = mentions(
            n,
            cfg.mention_label,
            _mention_kind,
            cfg.at_mobiles,
            cfg.at_user_ids,
            people=self._ctx.addresses("dingtalk"),
        )
        found = {"atMobiles": mobiles, "atUserIds": userids, "isAtAll": cfg.at_all and bool(n.firing)}
        at: dict[str, Any] = {key: value for key, value in found.items() if value}
        # DingTalk pings a mobile or userid of markdown only where "@<it>" is in the text.
        suffix = "\n\n" + " ".join(f"@{who}" for who in [*mobiles, *userids]) if at else ""
        render = self.render_alerts(f"dingtalk.{self._cfg.msgtype}", n, strip=True)
        title = _title(render((), None))
        # The first part also carries the mentions: every part is split with room for them.
        reserve = json_bytes({"at": at}) + len(json.dumps(suffix, ensure_ascii=False)) if at else 0
        texts = split_rendered(
            render,
            len(n.alerts),
            BODY_LIMIT - reserve,
            measure=lambda text: json_bytes(self._body(text, title)),
            max_parts=cfg.max_parts,
        )
        bodies = [self._body(text, title) for text in texts]
        if at:
            bodies[0] = {**self._body(texts[0] + suffix, title), "at": at}
        return bodies

    def _body(self, text: str, title: str) -> dict[str, Any]:
        if self._cfg.msgtype == "text":
            return {"msgtype": "text", "text": {"content": text}}
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        """The digest in this robot's msgtype, split between groups to the body limit. A
        digest mentions nobody: the groups' own messages wake people."""
        first = render_digest(
            self._ctx.renderer,
            "dingtalk.digest",
            digest,
            locale=self._locale,
            limit=None,
            msgtype=self._cfg.msgtype,
        )[0]
        title = _title(first)
        texts = render_digest(
            self._ctx.renderer,
            "dingtalk.digest",
            digest,
            locale=self._locale,
            limit=BODY_LIMIT,
            msgtype=self._cfg.msgtype,
            measure=lambda text: json_bytes(self._body(text, title)),
        )
        return [self._body(text, title) for text in texts]

    async def _post(self, body: dict[str, Any]) -> None:
        url, secrets = self._url, self._secrets
        if self._cfg.secret is not None:  # signed afresh: DingTalk refuses an hour-old one
            stamp = int(self._now() * 1000)
            sign = signature(self._cfg.secret.get_secret_value(), stamp)
            url += f"{'&' if '?' in url else '?'}timestamp={stamp}&sign={sign}"
            secrets = [*secrets, sign]
        await call(
            self._ctx.http,
            "POST",
            url,
            what="DingTalk robot",
            request_timeout=self._ctx.timeout,
            secrets=secrets,
            check=dingtalk_check,
            expect_json=True,
            content=compact_json(body),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )


def _mention_kind(item: str) -> int | None:
    """0: a mobile, 1: a userid; "all" and "everyone" only from config (at_all)."""
    if _MOBILE.match(item):
        return 0
    return 1 if _USERID.match(item) and item.lower() not in ("all", "everyone") else None


def _title(header: str) -> str:
    """The conversation list's preview line: the first line of the message, as plain text."""
    for line in header.splitlines():
        plain = re.sub(r"\\(.)", r"\1", re.sub(r"<[^>]*>|[*#>`]", "", line)).strip()
        if plain:
            return plain[:100]
    return "alert"


CHANNELS = (
    Channel(
        "dingtalk",
        DingTalkConfig,
        templates=("dingtalk.markdown", "dingtalk.text", "dingtalk.digest"),
        preview_settings={"access_token": "preview"},
        filters={"dingtalk_escape": dingtalk_escape},
    ),
)
