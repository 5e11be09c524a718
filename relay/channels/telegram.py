"""Telegram: a bot posts HTML messages into a chat, a group (a topic of it) or a channel.

Every value from an alert is HTML-escaped by the template (``telegram.html`` is rendered
with autoescape), so a label cannot open or close an entity. Telegram counts a message's
length after entity parsing, in UTF-16 code units, at most 4096: relay measures exactly
that (:func:`visible_length`) and splits a longer notification into parts ``(1/3)``...
The bot token is part of the URL path (``/bot<token>/sendMessage``): every form of it is
redacted (ChannelConfig.secrets), and relay.core.secrets recognises a token's shape too.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any, ClassVar, Literal

from pydantic import SecretStr, field_validator, model_validator

from relay.channels.base import Channel, Delivery, Message, NotifierContext, PartsConfig, destination_key
from relay.channels.http import Answer, call
from relay.channels.parts import PostingNotifier
from relay.core.alerts import Notification
from relay.core.digests import Digest, DigestMessage
from relay.core.durations import format_duration
from relay.core.errors import DeliveryError, PermanentError, RetryableError
from relay.core.rates import Rate
from relay.templating.digest import render_digest
from relay.templating.split import ELLIPSIS, nchars, split_rendered

logger = logging.getLogger("relay.channels.telegram")

TELEGRAM_API_URL = "https://api.telegram.org"
#: UTF-16 code units of a message's text after entity parsing.
TEXT_LIMIT = 4096
#: Tags Telegram's HTML parse mode knows (https://core.telegram.org/bots/api#html-style).
ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "span",
        "tg-spoiler",
        "tg-emoji",
    }
)
#: Telegram's rule for setWebhook's secret_token.
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: Callback data of relay's buttons: this, then an action token (relay.core.actions).
CALLBACK_PREFIX = "r:"
BUTTONS = {
    "en": {"ack": "✅ Acknowledge", "silence": "🔕 {d}"},
    "zh-CN": {"ack": "✅ 确认", "silence": "🔕 静默 {d}"},
}

#: Words in Telegram's error descriptions -> what to change (the description is kept).
HINTS = (
    ("can't parse entities", "a template produced HTML Telegram cannot parse: escape values"),
    ("chat not found", "check chat_id, and that the bot was added to that chat"),
    ("thread not found", "check message_thread_id: the topic was deleted or is elsewhere"),
    ("blocked by the user", "the user blocked the bot: they must unblock it (or /start it)"),
    ("kicked", "the bot was removed from the chat: add it back"),
    ("not a member", "add the bot to the chat (as an administrator for a channel)"),
    ("not enough rights", "give the bot the right to post messages in this chat"),
    ("unauthorized", "bot_token is wrong or was revoked: get the current one from @BotFather"),
)
_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,}$")
_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")
_PIECE = re.compile(r"<[^>]*>|&#?[A-Za-z0-9]+;|[^<&]|[<&]", re.S)


class TelegramConfig(PartsConfig):
    kind: ClassVar[str] = "telegram"
    vendor_fields: ClassVar[tuple[str, ...]] = ("bot_token", "api_url")
    secret_fields: ClassVar[tuple[str, ...]] = ("bot_token", "webhook_secret")

    bot_token: SecretStr
    chat_id: int | str
    message_thread_id: int | None = None
    api_url: str = TELEGRAM_API_URL
    #: True: every message is silent; "resolved": resolved notifications are.
    disable_notification: bool | Literal["resolved"] = False
    #: Buttons (Acknowledge, Silence) on firing messages need Telegram to tell relay
    #: about presses: through the bot's webhook (POST /api/v1/telegram/updates, with
    #: this secret in X-Telegram-Bot-Api-Secret-Token) or by relay polling getUpdates.
    webhook_secret: SecretStr | None = None
    updates: Literal["webhook", "polling"] | None = None

    @model_validator(mode="after")
    def _updates_need_a_way_in(self) -> TelegramConfig:
        if self.updates == "webhook" and self.webhook_secret is None:
            raise ValueError("updates: webhook needs webhook_secret (the secret_token given to setWebhook)")
        return self

    @property
    def buttons(self) -> bool:
        """Whether firing messages carry buttons: relay hears about presses."""
        return self.updates == "polling" or self.webhook_secret is not None

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's secret_token)")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not _TOKEN.match(token):
            # A secret: the message describes it, never echoes it.
            hint = " (the token alone, not the URL)" if "/" in token else ""
            raise ValueError(
                f"is not a bot token{hint}: @BotFather gives one like "
                "123456789:AAH... (digits, a colon, then 35 characters)"
            )
        return value

    @field_validator("chat_id")
    @classmethod
    def _chat(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            return value
        text = value.strip()
        if re.fullmatch(r"-?[0-9]+", text):
            return int(text)
        if _USERNAME.match(text):
            return text
        raise ValueError(
            "must be a number (a user or group, e.g. -1001234567890) or a public channel's @username"
        )

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(
                f"must be a URL starting with https:// ({TELEGRAM_API_URL}, or your own Bot API server)"
            )
        return value.rstrip("/")

    def secrets(self) -> list[str]:
        """The token, and its secret half alone (the part before ':' is the bot's id);
        the webhook secret."""
        token = self.bot_token.get_secret_value()
        found = [token, token.partition(":")[2]]
        if self.webhook_secret is not None:
            found.append(self.webhook_secret.get_secret_value())
        return found

    @property
    def is_group(self) -> bool:
        """Groups, supergroups (negative ids) and channels (@name) share 20 per minute."""
        return not (isinstance(self.chat_id, int) and self.chat_id > 0)

    def build(self, ctx: NotifierContext) -> TelegramNotifier:
        return TelegramNotifier(self, ctx)


# -- HTML as Telegram reads it --------------------------------------------------------


def visible_length(text: str) -> int:
    """The length Telegram checks against 4096: the text without tags, entities decoded,
    in UTF-16 code units."""
    return nchars(html.unescape(_TAG.sub("", text)))


class _Entities(HTMLParser):
    """Fails on what Telegram refuses with "can't parse entities": unknown or unclosed
    tags, a closing tag that does not match."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problem = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f"unsupported tag <{tag}>"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problem = self.problem or f"</{tag}> closes nothing open"


def entities_problem(text: str) -> str:
    """Why Telegram would refuse ``text`` as HTML ('' when it would not)."""
    if re.search(r"&(?!#?[A-Za-z0-9]+;)|<(?![a-zA-Z/])", text):
        return "a bare '&' or '<' (values must be escaped)"
    parser = _Entities()
    parser.feed(text)
    parser.close()
    if parser.problem:
        return parser.problem
    return f"<{parser.open[-1]}> is not closed" if parser.open else ""


def cut_html(text: str, budget: int) -> str:
    """The longest start of ``text`` within ``budget`` visible units, then "…", with the
    tags still open closed: never a tag or an entity cut in half."""
    if visible_length(text) <= budget:
        return text
    kept: list[str] = []
    opened: list[str] = []
    used = 0
    room = budget - nchars(ELLIPSIS)
    for match in _PIECE.finditer(text):
        piece = match.group(0)
        tag = _TAG.fullmatch(piece)
        if tag is None:
            size = visible_length(piece) if piece[0] == "&" else nchars(piece)
            if used + size > room:
                break
            used += size
        elif tag.group(1):
            if opened:
                opened.pop()
        else:
            opened.append(tag.group(2).lower())
        kept.append(piece)
    return "".join(kept) + ELLIPSIS + "".join(f"</{t}>" for t in reversed(opened))


# -- the notifier ----------------------------------------------------------------------


def telegram_check(answer: Answer) -> DeliveryError | None:
    """Telegram answers ``{"ok": false, "error_code": N, "description": ...}``; a 429
    says how long to wait in ``parameters.retry_after``."""
    data = answer.data
    if not isinstance(data, dict) or data.get("ok") is not False:
        return None
    code = data.get("error_code") if isinstance(data.get("error_code"), int) else answer.status
    words = " ".join(str(data.get("description") or "").split())[:300]
    message = f"Telegram sendMessage: {code}" + (f": {words}" if words else "")
    found = data.get("parameters")
    parameters: dict[str, Any] = found if isinstance(found, dict) else {}
    if parameters.get("migrate_to_chat_id"):
        message += f" (the group became a supergroup: set chat_id to {parameters['migrate_to_chat_id']})"
    else:
        hint = next((h for key, h in HINTS if key in words.lower()), "")
        message += f" ({hint})" if hint else ""
    reason = f"telegram_{code}"
    if code == 429:
        wait = parameters.get("retry_after")
        retry_after = float(wait) if isinstance(wait, int | float) else answer.retry_after
        return RetryableError(reason, message, retry_after=retry_after, throttled=True)
    if code in (408, 425) or (isinstance(code, int) and code >= 500):
        return RetryableError(reason, message, retry_after=answer.retry_after)
    return PermanentError(reason, message)


class TelegramNotifier(PostingNotifier[TelegramConfig]):
    """Posts ``sendMessage`` with parse_mode HTML, one call per part."""

    limit = TEXT_LIMIT
    unit = "characters"

    def __init__(self, config: TelegramConfig, ctx: NotifierContext) -> None:
        super().__init__(config, ctx)
        self._secrets = config.secrets()
        self._url = f"{config.api_url}/bot{config.bot_token.get_secret_value()}/sendMessage"
        where = f"{config.api_url}|{config.bot_token.get_secret_value()}|{config.chat_id}"
        self.rate_limit_key = destination_key("telegram", where)
        # 1 message per second per chat; 20 per minute in a group.
        self.rate_limits = (Rate(1, 1.0), *((Rate(20, 60.0),) if config.is_group else ()))

    def render_texts(self, message: Message) -> list[str]:
        """The HTML texts of the parts, each within 4096 visible units."""
        n = message.notification
        # With buttons, the text needs no links that do the same.
        extra: dict[str, Any] = {"actions": []} if self.keyboard(n) else {}
        template = self.render_alerts("telegram.html", n, **extra)
        page = self.page_links(n)

        def render(indices: Sequence[int], more: int | None) -> str:
            text = template(indices, more)
            problem = entities_problem(text)
            if problem:  # a user's template (or the last-resort text): send it as plain text
                logger.warning("telegram.html is not valid Telegram HTML (%s): sent escaped", problem)
                text = html.escape(text, quote=False)
            return text

        texts = split_rendered(
            render,
            len(n.alerts),
            TEXT_LIMIT - visible_length(page),
            measure=visible_length,
            cut=cut_html,
            max_parts=self._cfg.max_parts,
        )
        texts[0] += page
        return texts

    def page_links(self, n: Notification) -> str:
        """An escalation step's mentions: a ``tg://user?id=`` link per person it pages
        who has a Telegram id (Telegram notifies them; the link text is their name)."""
        if n.escalation is None or not n.firing:
            return ""
        directory = self._ctx.addresses("telegram")
        links = [
            f'<a href="tg://user?id={html.escape(directory[p])}">{html.escape(n.escalation.shown(p))}</a>'
            for p in n.escalation.people
            if p in directory
        ]
        return "\n" + " ".join(links) if links else ""

    def keyboard(self, n: Notification) -> dict[str, Any] | None:
        """The inline keyboard of a firing message: Acknowledge and each silence, their
        callback data ``r:<action token>`` (49 bytes of Telegram's 64)."""
        if not self._cfg.buttons:
            return None
        tokens = self._ctx.renderer.action_tokens(n)
        if not tokens:
            return None
        words = BUTTONS[self._locale]
        row = [
            {
                "text": words["ack"]
                if action == "a"
                else words["silence"].format(d=format_duration(seconds)),
                "callback_data": f"{CALLBACK_PREFIX}{token}",
            }
            for action, seconds, token in tokens
        ]
        return {"inline_keyboard": [row]}

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The sendMessage bodies, in order; the first carries the buttons."""
        cfg = self._cfg
        silent = cfg.disable_notification is True or (
            cfg.disable_notification == "resolved" and message.notification.status == "resolved"
        )
        bodies = self._bodies(self.render_texts(message), silent)
        keyboard = self.keyboard(message.notification)
        if keyboard is not None:
            bodies[0]["reply_markup"] = keyboard
        return bodies

    def _bodies(self, texts: list[str], silent: bool) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "chat_id": self._cfg.chat_id,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        if self._cfg.message_thread_id is not None:
            body["message_thread_id"] = self._cfg.message_thread_id
        if silent:
            body["disable_notification"] = True
        return [{**body, "text": text} for text in texts]

    def body_size(self, body: dict[str, Any]) -> int:
        return visible_length(body["text"])

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        """sendMessage bodies of the digest (telegram.digest escapes every value), split
        between groups at 4096 visible characters; a digest is sent silently."""
        texts = render_digest(
            self._ctx.renderer,
            "telegram.digest",
            digest,
            locale=self._locale,
            limit=TEXT_LIMIT,
            measure=visible_length,
            cut=cut_html,
        )
        return self._bodies(texts, silent=True)

    async def send_digest(self, message: DigestMessage) -> Delivery:
        delivery = await super().send_digest(message)
        delivery.data.pop("results", None)
        return delivery

    async def _post(self, body: dict[str, Any]) -> int | None:
        answer = await call(
            self._ctx.http,
            "POST",
            self._url,
            what="Telegram sendMessage",
            request_timeout=self._ctx.timeout,
            secrets=self._secrets,
            json=body,
            check=telegram_check,
            expect_json=True,
        )
        result = answer.data.get("result")
        return result.get("message_id") if isinstance(result, dict) else None


CHANNELS = (
    Channel(
        "telegram",
        TelegramConfig,
        templates=("telegram.html", "telegram.digest"),
        preview_settings={
            "bot_token": "123456789:preview-preview-preview-preview-pre",
            "chat_id": -1001234567890,
        },
    ),
)
