"""Slack: incoming webhooks or the Web API with a bot token, Block Kit messages.

A message is a header block and one section per alert (several when its text is longer
than a section may be) inside an attachment coloured for firing or resolved; texts come
from the ``slack.header`` and ``slack.alert`` templates, which escape label and
annotation values (``slack_escape``). A notification too big for Slack's limits goes
out as several posts marked ``(1/3)``... With a bot token and ``update_on_resolve``, the
firing post's channel and ts are kept in the store (``slack:<integration>:<group
key>``); the resolved notification edits that post and replies in its thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator

from relay.channels.base import (
    Channel,
    Delivery,
    Message,
    Notifier,
    NotifierContext,
    PartsConfig,
    Preview,
    destination_key,
    parts_preview,
)
from relay.channels.http import Answer, call, error_redacted
from relay.channels.parts import send_parts
from relay.channels.slack_actions import actions_block
from relay.channels.slack_blocks import (
    MAX_HEADER_CHARS,
    MAX_POST_CHARS,
    MAX_SECTION_CHARS,
    Chunk,
    cut_chars,
    edit_of,
    fallback_text,
    header_only,
    header_text,
    sections_of,
    split_section,
)
from relay.channels.urls import secret_url_check, url_secret_parts
from relay.core.alerts import Notification
from relay.core.digests import Digest, DigestMessage
from relay.core.errors import DeliveryError, PermanentError, RetryableError
from relay.core.rates import Rate
from relay.core.said import Said
from relay.core.text import escalation_text, http_url, normalize_locale, slack_escape
from relay.templating.digest import render_digest
from relay.templating.split import LazyList, not_shown, split_rendered

SLACK_API_BASE = "https://slack.com/api/"

COLORS = {"firing": "#E01E5A", "resolved": "#2EB67D"}
REF_TTL = 30 * 86400.0  # how long a firing post can still be updated when it resolves
#: Web API errors (``{"ok": false, "error": ...}``) worth trying again; the rest are final.
RETRYABLE_API_ERRORS = frozenset(
    {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
#: chat.update errors after which the resolved message is posted anew instead.
_UPDATE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
_MORE = {"en": "… and {n} more", "zh-CN": "… 另有 {n} 条"}
_ALL = {"en": "see all", "zh-CN": "查看全部"}
_REASON = re.compile(r"[^a-z0-9_]+")

logger = logging.getLogger("relay.channels.slack")


class SlackConfig(PartsConfig):
    kind: ClassVar[str] = "slack"
    vendor_fields: ClassVar[tuple[str, ...]] = ("api_url", "token")
    secret_fields: ClassVar[tuple[str, ...]] = ("api_url", "token", "signing_secret")

    api_url: SecretStr | None = None  # incoming-webhook URL; with token, the Web API base
    token: SecretStr | None = None
    channel: str | None = None
    update_on_resolve: bool = False
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    rate_limit_per_minute: float = 60.0
    # The Slack app's signing secret: with it (bot mode), firing messages get buttons
    # (Silence 1h/4h, Acknowledge) whose clicks relay verifies (relay.web.slack_interactions).
    signing_secret: SecretStr | None = None
    # Whose clicks act: the workspace (a Slack app installed in several shares one signing
    # secret) and, when listed, only these users (U0123...).
    team_id: str | None = None
    allowed_users: list[str] = Field(default_factory=list)

    _absolute_url = secret_url_check(
        "api_url",
        "must be a full URL starting with https:// (the "
        "incoming webhook is https://hooks.slack.com/services/...)",
    )

    @model_validator(mode="after")
    def _mode(self) -> SlackConfig:
        if self.token is None:
            if self.api_url is None:
                raise ValueError("set api_url (incoming webhook) or token and channel (bot)")
            if self.update_on_resolve:
                raise ValueError("update_on_resolve needs a bot token (token and channel)")
            if self.signing_secret is not None:
                raise ValueError("signing_secret (buttons) needs a bot token (token and channel)")
        elif not self.channel:
            raise ValueError("channel is required with token")
        if (self.team_id or self.allowed_users) and self.signing_secret is None:
            raise ValueError("team_id and allowed_users restrict button clicks: they need signing_secret")
        return self

    def config_warnings(self) -> list[tuple[str, str]]:
        """(key, warning) for settings that are accepted but have no effect."""
        if self.token is None and self.channel:
            return [
                (
                    "channel",
                    Said(
                        "ignored with an incoming webhook (api_url), which always posts "
                        "to the channel it was created for; remove it, or use token "
                        "and channel (bot)",
                        "使用 incoming webhook（api_url）时此项无效：它总是发到创建时绑定的频道；"
                        "请删除此项，或改用 token 加 channel（bot 方式）",
                    ),
                )
            ]
        return []

    @property
    def bot_mode(self) -> bool:
        return self.token is not None

    def build(self, ctx: NotifierContext) -> Notifier:
        return SlackNotifier(self, ctx)


def _reason(error: str) -> str:
    return "slack_" + (_REASON.sub("_", error.lower())[:40].strip("_") or "error")


class SlackNotifier(Notifier):
    """Posts Block Kit messages through an incoming webhook or chat.postMessage."""

    def __init__(self, config: SlackConfig, ctx: NotifierContext) -> None:
        self._cfg = config
        self._ctx = ctx
        self._secrets = config.secrets()
        if config.token is None and config.api_url is not None:
            self._secrets += url_secret_parts(config.api_url.get_secret_value())
        self._locale = normalize_locale(config.locale or ctx.locale)
        self._timeout = ctx.timeout
        # Bot mode: the Web API base and the token; else the incoming webhook's URL.
        self._api_base: str | None = None
        self._hook_url: str | None = None
        if config.token is not None:
            self._api_base = (config.api_url.get_secret_value() if config.api_url else SLACK_API_BASE).rstrip(
                "/"
            )
            where = f"{self._api_base}|{config.channel}"
        else:
            assert config.api_url is not None
            where = self._hook_url = config.api_url.get_secret_value()
        self.rate_limit_key = destination_key("slack", where)
        self.rate_limits = (Rate.per_minute(config.rate_limit_per_minute),)

    # -- rendering ---------------------------------------------------------------------

    def messages_for(self, message: Message) -> int:
        return len(self.rendered(message, self.render_posts))

    def render_posts(self, message: Message) -> list[dict[str, Any]]:
        """The payloads ``send`` would post (``text``, ``attachments``, name/icon), in order."""
        n = message.notification
        render = self._ctx.renderer.render
        header = render("slack.header", n, locale=self._locale)
        # Built when a post needs them: a capped message of a huge group shows few.
        sections = LazyList(
            lambda i: split_section(
                render("slack.alert", n, locale=self._locale, alert=n.alerts[i]) or fallback_text(n.alerts[i])
            )
        )
        group_url = http_url(self._ctx.renderer.group_url(n))
        footer = cut_chars(render("slack.footer", n, locale=self._locale), MAX_SECTION_CHARS)
        page = self.page_line(n)

        def chunk(indices: Sequence[int], more: int | None) -> Chunk:
            hidden = not_shown(n.truncated_alerts, more)
            note = _MORE[self._locale].format(n=hidden) if hidden else ""
            if note and group_url:
                note += f" <{group_url}|{_ALL[self._locale]}>"
            return Chunk([s for i in indices for s in sections[i]], note)

        chunks = split_rendered(
            chunk,
            len(n.alerts),
            MAX_POST_CHARS - len(footer) - len(page),
            measure=Chunk.size,
            cut=Chunk.cut,
            mark=Chunk.marked,
            max_parts=self._cfg.max_parts,
        )
        posts = []
        for part in chunks:
            title = header
            if part.mark:
                title = cut_chars(header, MAX_HEADER_CHARS - len(part.mark)) + part.mark
            blocks: list[dict[str, Any]] = [
                {"type": "header", "text": {"type": "plain_text", "text": header_text(title)}}
            ]
            if page and part is chunks[0]:
                blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": page}})
            blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in part.sections]
            if part.more:
                blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": part.more}]})
            if part is chunks[-1]:
                blocks += self._closing_blocks(message, footer)
            posts.append(self._post_payload(n, title, blocks))
        if page:
            # The preview (the push notification) carries the mentions too.
            posts[0]["text"] += " " + " ".join(f"<@{i}>" for i in self._paged_ids(n))
        return posts

    def page_line(self, n: Notification) -> str:
        """An escalation step's line: which step, then a native mention (``<@U…>``) of
        each person it pages who has a Slack id; '' for a message that is no step."""
        if n.escalation is None or not n.firing:
            return ""
        ids = self._paged_ids(n)
        text = slack_escape(escalation_text(n.escalation, self._locale))
        return cut_chars(" ".join([text, *(f"<@{i}>" for i in ids)]), MAX_SECTION_CHARS)

    def _paged_ids(self, n: Notification) -> list[str]:
        directory = self._ctx.addresses("slack")
        return [directory[p] for p in n.escalation.people if p in directory] if n.escalation else []

    def _closing_blocks(self, message: Message, footer: str) -> list[dict[str, Any]]:
        """The last post's end: the ``slack.footer`` text (the group's silence link) and,
        on a firing message in bot mode with a signing secret, relay's buttons. The
        splitter leaves room for both (BLOCK_WEIGHT; the footer's length)."""
        n = message.notification
        blocks: list[dict[str, Any]] = []
        if footer:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
        if n.status == "firing" and self._api_base is not None and self._cfg.signing_secret:
            silences = self._ctx.silences
            blocks.append(actions_block(message.job_id, self._locale, silences=silences))
        return blocks

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        """One post per part: the digest text in one mrkdwn section (its limit)."""
        texts = render_digest(
            self._ctx.renderer,
            "slack.digest",
            digest,
            locale=self._locale,
            limit=MAX_SECTION_CHARS,
            measure=len,
        )
        color = COLORS["firing" if digest.firing else "resolved"]
        posts = []
        for text in texts:
            title = text.partition("\n")[0].strip("*")  # already escaped by the template
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
            posts.append(self._payload(title, title, color, blocks))
        return posts

    async def send_digest(self, message: DigestMessage) -> Delivery:
        posts = self.digest_parts(message)
        delivery = await send_parts(self._ctx, message, posts, self._post, noun="post")
        delivery.data.pop("results", None)
        return delivery

    def digest_preview(self, digest: Digest, kind: str) -> Preview:
        posts = self.digest_bodies(digest)
        sizes = [max(len(s) for s in sections_of(p)) for p in posts]  # one section per post
        return parts_preview("slack digest", posts, sizes, MAX_SECTION_CHARS, "characters", noun="post")

    def preview(self, message: Message) -> Preview:
        posts = self.render_posts(message)
        sizes = [sum(len(s) for s in sections_of(p)) for p in posts]
        return parts_preview("slack", posts, sizes, MAX_POST_CHARS, "characters", noun="post")

    def _post_payload(self, n: Notification, title: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        # `text` is the notification preview and is parsed as mrkdwn: escape it too.
        return self._payload(slack_escape(title), title, COLORS[n.status], blocks)

    def _payload(self, text: str, fallback: str, color: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "text": text,
            "attachments": [{"color": color, "fallback": fallback, "blocks": blocks}],
        }
        for key in ("username", "icon_emoji", "icon_url"):
            value = getattr(self._cfg, key)
            if value:
                payload[key] = value
        return payload

    # -- sending -----------------------------------------------------------------------

    async def send(self, message: Message) -> Delivery:
        posts = self.rendered(message, self.render_posts)
        n = message.notification
        ref_key = f"slack:{message.integration}:{n.group_key}"
        if self._api_base is not None and self._cfg.update_on_resolve and n.status == "resolved":
            ref = await self._get_ref(ref_key)
            if ref and ref.get("channel") and ref.get("ts"):
                return await self._resolve(message, ref, posts)
        keep = ref_key if self._api_base is not None and self._cfg.update_on_resolve else None
        return await self._post_all(message, posts, keep)

    async def _post_all(self, message: Message, posts: list[dict[str, Any]], ref_key: str | None) -> Delivery:
        """Post in order, resuming after the posts an earlier attempt delivered; with
        ``ref_key``, keep where the first post went so a resolve can edit it."""

        async def keep(results: list[Any]) -> None:
            if ref_key is not None and results[0] and results[0][0] and results[0][1]:
                ts = [r[1] if r else None for r in results]
                await self._set_ref(ref_key, {"channel": results[0][0], "ts": ts[0], "parts": ts}, REF_TTL)

        delivery = await send_parts(
            self._ctx,
            message,
            posts,
            self._post,
            noun="post",
            on_progress=keep if ref_key is not None else None,
        )
        results = delivery.data.pop("results")
        channel = next((r[0] for r in results if r and r[0]), None)
        delivery.data.update(channel=channel, ts=[r[1] if r else None for r in results])
        return delivery

    async def _resolve(self, message: Message, ref: dict[str, Any], posts: list[dict[str, Any]]) -> Delivery:
        """Edit the firing post(s) to their resolved form, then reply in the thread."""
        channel, ts = str(ref["channel"]), str(ref["ts"])
        parts = [str(t) for t in ref.get("parts") or [ts]]
        for index, part_ts in enumerate(parts):
            edit = edit_of(posts[index] if index < len(posts) else header_only(posts[0]))
            try:
                await self._api("chat.update", channel=channel, ts=part_ts, **edit)
            except PermanentError as exc:
                if index == 0 and exc.reason.removeprefix("slack_") in _UPDATE_GONE:
                    return await self._post_all(message, posts, None)  # the post is gone
                raise
        reply = {k: v for k, v in posts[0].items() if k != "attachments"}
        for extra in [reply, *posts[len(parts) :]]:
            await self._api("chat.postMessage", channel=channel, thread_ts=ts, **extra)
        return Delivery(detail="updated the firing message", data={"channel": channel, "ts": ts})

    async def _get_ref(self, key: str) -> dict[str, Any] | None:
        try:
            return await self._ctx.store.get_ref(key)
        except Exception as exc:  # without it a post is made anew: better than none
            logger.warning("cannot read %s from the store: %s", key, exc)
            return None

    async def _set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None:
        try:
            await self._ctx.store.set_ref(key, value, ttl=ttl)
        except Exception as exc:  # raising would post the delivered message again
            logger.warning("cannot write %s to the store: %s", key, exc)

    async def _post(self, payload: dict[str, Any]) -> list[str | None]:
        """Post one message; [channel, ts] (None for an incoming webhook, which says neither)."""
        if self._api_base is not None:
            data = await self._api("chat.postMessage", channel=self._cfg.channel, **payload)
            return [data.get("channel"), data.get("ts")]
        assert self._hook_url is not None
        await call(
            self._ctx.http,
            "POST",
            self._hook_url,
            what="Slack incoming webhook",
            request_timeout=self._timeout,
            secrets=self._secrets,
            check=_hook_error,
            check_text=True,
            json=payload,
        )
        return [None, None]

    async def _api(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One Web API call (``chat.postMessage``): JSON in, ``{"ok": ...}`` out. An
        answer that is not a JSON object (a proxy's page) is retried, its words quoted."""
        assert self._api_base is not None and self._cfg.token is not None
        what = f"Slack {method}"
        answer = await call(
            self._ctx.http,
            "POST",
            f"{self._api_base}/{method}",
            what=what,
            request_timeout=self._timeout,
            secrets=self._secrets,
            check=lambda answer: _api_check(answer, what),
            expect_json=True,
            json=kwargs,
            headers={"Authorization": f"Bearer {self._cfg.token.get_secret_value()}"},
        )
        data = answer.data
        if not (isinstance(data, dict) and data.get("ok") is True):
            words = " ".join(answer.text.split())[:200]
            error = RetryableError("bad_response", f"{what}: HTTP {answer.status}, no ok/error: {words}")
            raise error_redacted(error, self._secrets)
        return data


def _hook_error(answer: Answer) -> DeliveryError | None:
    """An incoming webhook answers errors as a bare code ("invalid_token", "no_service")."""
    if 200 <= answer.status < 300 or answer.status == 429 or answer.status >= 500:
        return None
    if re.fullmatch(r"[a-z_]{1,40}", answer.text) is None:
        return None
    message = f"Slack incoming webhook: HTTP {answer.status}: {answer.text}"
    return PermanentError(_reason(answer.text), message)


def _api_check(answer: Answer, what: str) -> DeliveryError | None:
    """The Web API answers ``{"ok": false, "error": ...}``; ``ratelimited`` and a few
    server-side errors are worth another try, the rest are final."""
    data = answer.data
    error = str(data.get("error") or "") if isinstance(data, dict) else ""
    if not error:
        return None
    notes = (data.get("response_metadata") or {}).get("messages") or [] if data else []
    details = "; ".join(str(m) for m in notes)[:500]
    message = f"{what}: {error}" + (f" ({details})" if details else "")
    if answer.status == 429 or error == "ratelimited":
        return RetryableError(_reason(error), message, answer.retry_after, throttled=True)
    if answer.status >= 500 or answer.status == 408:  # the status names the reason
        return RetryableError(f"http_{answer.status}", message, answer.retry_after)
    if error in RETRYABLE_API_ERRORS:
        return RetryableError(_reason(error), message, answer.retry_after)
    return PermanentError(_reason(error), message)


CHANNELS = (
    Channel(
        "slack",
        SlackConfig,
        templates=("slack.header", "slack.alert", "slack.footer", "slack.digest"),
        preview_settings={"api_url": "https://hooks.slack.com/services/T00000000/B00000000/preview"},
        single_line=("slack.header",),
        per_alert=("slack.alert",),
    ),
)
