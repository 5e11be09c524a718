"""Feishu / Lark custom bot (飞书自定义机器人): an interactive card, or plain text.

A card has a header coloured by status and top severity, one lark_md section per alert
(texts from the ``feishu.title`` and ``feishu.alert`` templates, values escaped with the
``lark_md`` filter) and link buttons to the graph, the runbook and a pre-filled
Alertmanager silence. A body over 20 KB of JSON is split into cards marked ``(i/n)``.
Signed bots get ``timestamp`` and ``sign`` in every body, computed at each request.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from relay.channels.base import Channel, Message, NotifierContext, PartsConfig, destination_key
from relay.channels.http import Answer, call, errcode_check
from relay.channels.mentions import mentions
from relay.channels.parts import PostingNotifier
from relay.channels.urls import secret_url_check, url_secret_parts
from relay.core.alerts import Alert, Notification
from relay.core.digests import Digest
from relay.core.errors import DeliveryError, PermanentError
from relay.core.rates import Rate
from relay.core.said import Said
from relay.core.text import alert_silence_url, escalation_text, http_url
from relay.templating.digest import render_digest
from relay.templating.split import (
    ELLIPSIS,
    LazyList,
    compact_json,
    cut_bytes,
    json_bytes,
    mark_at,
    nbytes,
    not_shown,
    split_rendered,
)

FEISHU_HOSTS = ("open.feishu.cn", "open.larksuite.com")
HOOK_PATH = "/open-apis/bot/v2/hook/"
#: The request body limit (JSON bytes), less room for ``timestamp`` and ``sign``.
BODY_LIMIT = 20_000
SIGN_RESERVE = 96
#: A link this long goes first when an alert does not fit a card (URL bytes).
LONG_URL = 2048
COLORS = {"critical": "red", "error": "red", "page": "red", "warning": "orange", "warn": "orange"}
#: code -> relay's hint on what to change.
EXPLAIN = {
    19021: "the signature did not match or its timestamp is over an hour off: check secret "
    "(签名校验) and this host's clock",
    19022: "this host's IP is not in the bot's IP whitelist (IP 白名单)",
    19024: "the message has none of the bot's keywords (自定义关键词): add one to the "
    "templates, or remove the keyword setting",
    19036: "the card is too large",
    11246: "an @-mentioned user id is not valid in this group: check at_user_ids and mention_label values",
}
_THROTTLED = frozenset({11232, 9499})
_CHECK = errcode_check(
    "code",
    "msg",
    retryable={11232: None, 9499: None},
    what="Feishu bot",
    reason_prefix="code",
    explain=EXPLAIN,
    throttled=_THROTTLED,
)
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: Characters that are markup in lark_md (tags, links, emphasis, code, headings), as the
#: numeric entities Feishu cards display as the characters themselves.
_LARK_MD = {c: f"&#{ord(c)};" for c in "&<>\\`*_~[]()#"}
_UI = {
    "en": {
        "graph": "Graph",
        "runbook": "Runbook",
        "silence": "Silence",
        "more": "… and {n} more alerts not shown",
        "all": "see all",
    },
    "zh-CN": {
        "graph": "查看图表",
        "runbook": "处理手册",
        "silence": "静默",
        "more": "……另有 {n} 条告警未显示",
        "all": "查看全部",
    },
}


def lark_md(value: Any) -> str:
    """``value`` shown as is in lark_md: ``<at>``, ``<font>``, links, emphasis and emoji
    codes become HTML entities, which Feishu cards display as the characters."""
    return "".join(_LARK_MD.get(c, c) for c in str(value if value is not None else ""))


def plain_text(value: Any) -> str:
    """``value`` for a text message, where ``<at user_id=...>`` is the only markup: angle
    brackets become their full-width forms so no value can mention anyone."""
    return str(value if value is not None else "").replace("<", "＜").replace(">", "＞")


def sign(timestamp: int, secret: str) -> str:
    """Feishu's signature: HMAC-SHA256 keyed with ``timestamp + "\\n" + secret`` over an
    empty message, Base64."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuCardSettings(PartsConfig):
    """What a Feishu bot's messages look like, for the custom bot and the app alike."""

    msgtype: Literal["interactive", "text"] = "interactive"
    at_user_ids: list[str] = Field(default_factory=list)
    at_all: bool = False
    mention_label: str | None = None
    rate_limit_per_minute: float = Field(default=100.0, gt=0)
    rate_limit_per_second: int = Field(default=5, ge=1)

    @field_validator("at_user_ids")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _USER_ID.match(v) or v == "all"]
        if bad:
            raise ValueError(
                f"not open_id/user_id values: {', '.join(bad)[:200]} (use at_all: true to mention everyone)"
            )
        return value


class FeishuConfig(FeishuCardSettings):
    kind: ClassVar[str] = "feishu"
    vendor_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "secret")
    secret_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "secret")

    webhook_url: SecretStr
    secret: SecretStr | None = None

    _absolute_url = secret_url_check(
        "webhook_url", f"must be a full URL starting with https://{FEISHU_HOSTS[0]}{HOOK_PATH}..."
    )

    def config_warnings(self) -> list[tuple[str, str]]:
        """A URL elsewhere than Feishu's or Lark's bot hooks is accepted (a proxy, a
        private deployment) but is most often a mistake: say so."""
        parts = urlsplit(self.webhook_url.get_secret_value())
        if parts.hostname in FEISHU_HOSTS and parts.path.startswith(HOOK_PATH):
            return []
        return [
            (
                "webhook_url",
                Said(
                    f"not a Feishu or Lark bot hook (https://{FEISHU_HOSTS[0]}"
                    f"{HOOK_PATH}... or https://{FEISHU_HOSTS[1]}{HOOK_PATH}...); "
                    "fine for a proxy or a private deployment",
                    f"不是飞书或 Lark 机器人地址（https://{FEISHU_HOSTS[0]}{HOOK_PATH}... 或 "
                    f"https://{FEISHU_HOSTS[1]}{HOOK_PATH}...）；如果是代理或私有部署则没问题",
                ),
            )
        ]

    def build(self, ctx: NotifierContext) -> FeishuNotifier:
        return FeishuNotifier(self, ctx)


def feishu_check(answer: Answer) -> DeliveryError | None:
    """``code`` 0 delivered (older answers say ``StatusCode``); 11232 throttled; 9499 is
    throttled when its message says "too many", else a malformed body (permanent); a
    5xx with another code is left to its status (retryable)."""
    data = answer.data
    if isinstance(data, dict) and "code" not in data and "StatusCode" in data:
        data = {"code": data["StatusCode"], "msg": data.get("StatusMessage")}
        answer = Answer(answer.status, answer.headers, answer.text, data)
    if answer.status >= 500 and not (isinstance(data, dict) and data.get("code") in _THROTTLED):
        return None  # the server failed (1500 internal error...): retryable by its status
    if isinstance(data, dict) and data.get("code") == 9499:
        words = str(data.get("msg") or "")
        if not re.search(r"too many|frequen|limit", words, re.I):
            return PermanentError(
                "code_9499",
                f"Feishu bot: code 9499: {words} (the body was refused as malformed or over 20 KB)",
            )
    return _CHECK(answer)


S = TypeVar("S", bound=FeishuCardSettings)


class FeishuCards(PostingNotifier[S]):
    """A Feishu message's cards (or text parts): what the custom bot and the app share.
    Subclasses post them (``_post``) and may offer other action buttons."""

    limit = BODY_LIMIT
    unit = "JSON bytes"
    #: Room kept in each body for what posting adds (the custom bot's signature).
    reserve = 0
    #: The templates' family: ``feishu.title``, ``feishu.alert``, ...
    family = "feishu"

    def action_buttons(self, n: Notification) -> list[dict[str, Any]]:
        """Acknowledge / Silence: buttons that open relay's action pages."""
        return [
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": link["label"]},
                "type": "primary" if link["action"] == "ack" else "default",
                "url": link["url"],
            }
            for link in self._ctx.renderer.action_links(n, self._locale)
        ]

    def mentions(self, n: Notification) -> list[str]:
        """Ids to @: the configured ones, then ``mention_label`` values of firing alerts
        ("all" only from ``at_all``). Nobody is woken for a group with nothing firing."""
        configured = [*(["all"] if self._cfg.at_all else []), *self._cfg.at_user_ids]
        return mentions(
            n, self._cfg.mention_label, _mention_kind, configured, people=self._ctx.addresses("feishu")
        )[0]

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The bodies ``send`` posts, in order, before signing."""
        if self._cfg.msgtype == "text":
            return self._text_parts(message.notification)
        return self._card_parts(message.notification)

    def _text_parts(self, n: Notification) -> list[dict[str, Any]]:
        ids = self.mentions(n)
        ats = " ".join(f'<at user_id="{i}">{"所有人" if i == "all" else ""}</at>' for i in ids)
        suffix = f"\n{ats}" if ats else ""

        def measure(text: str) -> int:
            return json_bytes(_text(text))

        limit = BODY_LIMIT - SIGN_RESERVE - measure(suffix) + measure("")
        texts = split_rendered(
            self.render_alerts(f"{self.family}.text", n),
            len(n.alerts),
            limit,
            measure=measure,
            max_parts=self._cfg.max_parts,
        )
        texts[0] += suffix
        return [_text(t) for t in texts]

    def _card_parts(self, n: Notification) -> list[dict[str, Any]]:
        render = self._ctx.renderer.render
        title = render(f"{self.family}.title", n, locale=self._locale) or "alert"
        # Built when a part needs them: a capped message of a huge group shows few.
        sections = LazyList(lambda i: self._alert_elements(n, n.alerts[i]))
        ui = _UI[self._locale]
        group_url = http_url(self._ctx.renderer.group_url(n))
        color = _color(n)

        def card(indices: Sequence[int], more: int | None) -> dict[str, Any]:
            elements = [e for k, i in enumerate(indices) for e in ([_HR] if k else []) + sections[i]]
            hidden = not_shown(n.truncated_alerts, more)
            if hidden:
                note = lark_md(ui["more"].format(n=hidden))
                link = f" [{lark_md(ui['all'])}]({group_url})" if group_url else ""
                elements.append({"tag": "note", "elements": [{"tag": "lark_md", "content": note + link}]})
            return _card(color, title, elements)

        ids = self.mentions(n)
        # An escalation step says whom it pages, then @s those with an open_id.
        lines = [lark_md(escalation_text(n.escalation, self._locale))] if n.escalation else []
        lines += [" ".join(f"<at id={i}></at>" for i in ids)] if ids else []
        at = [_div("\n".join(lines))] if lines else []
        buttons = self.action_buttons(n)
        if buttons:
            at.append({"tag": "action", "actions": buttons})
        limit = BODY_LIMIT - SIGN_RESERVE - (json_bytes(at) if at else 0)
        cards = split_rendered(
            card,
            len(n.alerts),
            limit,
            measure=json_bytes,
            cut=_cut_card,
            mark=mark_at("card", "header", "title", "content"),
            max_parts=self._cfg.max_parts,
        )
        cards[0]["card"]["elements"] += at
        return cards

    def _alert_elements(self, n: Notification, a: Alert) -> list[dict[str, Any]]:
        text = self._ctx.renderer.render(f"{self.family}.alert", n, locale=self._locale, alert=a)
        ui = _UI[self._locale]
        links = [
            ("graph", http_url(a.generatorURL)),
            ("runbook", http_url(a.annotations.get("runbook_url"))),
            ("silence", http_url(alert_silence_url(a, n.external_url)) if a.status == "firing" else ""),
        ]
        buttons = [
            {
                "tag": "button",
                "type": "danger" if key == "silence" else "default",
                "text": {"tag": "plain_text", "content": ui[key]},
                "url": url,
            }
            for key, url in links
            if url
        ]
        return [_div(text or lark_md(a.labels.get("alertname", "alert")))] + (
            [{"tag": "action", "actions": buttons}] if buttons else []
        )

    def body_size(self, body: dict[str, Any]) -> int:
        return json_bytes(body) + self.reserve

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        """The digest as text messages or cards (title: its first line), split between
        groups to the body limit. A digest mentions nobody."""
        msgtype = self._cfg.msgtype
        color = "red" if digest.firing else "green"

        def body(text: str) -> dict[str, Any]:
            if msgtype == "text":
                return _text(text)
            title, _, rest = text.partition("\n")
            return _card(color, title, [_div(rest.strip())])

        texts = render_digest(
            self._ctx.renderer,
            f"{self.family}.digest",
            digest,
            locale=self._locale,
            limit=BODY_LIMIT - SIGN_RESERVE,
            msgtype=msgtype,
            measure=lambda text: json_bytes(body(text)),
        )
        return [body(text) for text in texts]


class FeishuNotifier(FeishuCards[FeishuConfig]):
    """POSTs a card (or text) per part to one custom bot, signed when ``secret`` is set."""

    def __init__(self, config: FeishuConfig, ctx: NotifierContext) -> None:
        super().__init__(config, ctx)
        self._url = config.webhook_url.get_secret_value()
        self._secret = config.secret.get_secret_value() if config.secret else None
        self.reserve = SIGN_RESERVE if self._secret else 0
        self._secrets = [*config.secrets(), *url_secret_parts(self._url)]
        self.noun = "card" if config.msgtype == "interactive" else "part"
        self.rate_limit_key = destination_key("feishu", self._url)
        self.rate_limits = (
            Rate(config.rate_limit_per_second, 1.0),
            Rate.per_minute(config.rate_limit_per_minute),
        )

    async def _post(self, body: dict[str, Any]) -> None:
        try:
            await self._call(body)
        except PermanentError as exc:
            if exc.reason != "code_19021":
                raise
            if self._secret is None:
                raise PermanentError(
                    exc.reason,
                    exc.message.replace(EXPLAIN[19021], "the bot has 签名校验 (signature) on: set secret"),
                ) from None
            # A timestamp more than an hour off is refused: sign afresh, once, right away.
            await self._call(body)

    async def _call(self, body: dict[str, Any]) -> None:
        if self._secret is not None:
            timestamp = int(self._ctx.renderer.now().timestamp())
            body = {**body, "timestamp": str(timestamp), "sign": sign(timestamp, self._secret)}
        # Sent as measured: compact UTF-8 JSON, whatever the HTTP client's defaults.
        await call(
            self._ctx.http,
            "POST",
            self._url,
            what="Feishu bot",
            request_timeout=self._ctx.timeout,
            secrets=self._secrets,
            content=compact_json(body),
            headers={"Content-Type": "application/json; charset=utf-8"},
            check=feishu_check,
            expect_json=True,
        )


_HR: dict[str, Any] = {"tag": "hr"}


def _text(text: str) -> dict[str, Any]:
    return {"msg_type": "text", "content": {"text": text}}


def _card(color: str, title: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
    header = {"template": color, "title": {"tag": "plain_text", "content": title}}
    return {
        "msg_type": "interactive",
        "card": {"config": {"wide_screen_mode": True}, "header": header, "elements": elements},
    }


def _mention_kind(item: str) -> int | None:
    return 0 if _USER_ID.match(item) and item != "all" else None


def _div(content: str) -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "lark_md", "content": content}}


def _note(content: str) -> dict[str, Any]:
    return {"tag": "note", "elements": [{"tag": "lark_md", "content": lark_md(content)}]}


def _color(n: Notification) -> str:
    """green resolved; red critical, orange warning, blue anything else firing."""
    if n.status == "resolved":
        return "green"
    found = {COLORS.get(a.labels.get("severity", "").lower(), "blue") for a in n.firing}
    return next((c for c in ("red", "orange") if c in found), "blue")


def _cut_card(body: dict[str, Any], budget: int) -> dict[str, Any]:
    """One alert too big for a card of its own: first its longest links go (a silence
    link carries every label, percent-encoded), then its text is cut (at a character,
    never inside an entity), then the rest of its buttons."""
    cut = copy.deepcopy(body)
    elements = cut["card"]["elements"]
    buttons = sorted(
        (b for e in elements if e.get("tag") == "action" for b in e["actions"]),
        key=lambda b: -nbytes(b["url"]),
    )
    for button in buttons:
        if json_bytes(cut) <= budget or nbytes(button["url"]) < LONG_URL:
            break
        for action in (e for e in elements if e.get("tag") == "action"):
            if button in action["actions"]:
                action["actions"].remove(button)
    elements[:] = [e for e in elements if e.get("tag") != "action" or e["actions"]]
    divs = [e for e in elements if e.get("tag") == "div"]
    while divs and json_bytes(cut) > budget:
        text = divs[0]["text"]
        over = json_bytes(cut) - budget
        keep = max(0, nbytes(text["content"]) - max(over, 16) - nbytes(ELLIPSIS))
        shorter = cut_bytes(text["content"], keep).removesuffix(ELLIPSIS)
        shorter = re.sub(r"&#?\w*$", "", shorter)  # half an entity would show as text
        text["content"] = shorter + ELLIPSIS
        if not shorter:
            divs.pop(0)
    while json_bytes(cut) > budget and any(e.get("tag") == "action" for e in elements):
        elements.remove(next(e for e in elements if e.get("tag") == "action"))
    return cut


CHANNELS = (
    Channel(
        "feishu",
        FeishuConfig,
        templates=("feishu.title", "feishu.alert", "feishu.text", "feishu.digest"),
        preview_settings={"webhook_url": f"https://{FEISHU_HOSTS[0]}{HOOK_PATH}preview"},
        single_line=("feishu.title",),
        per_alert=("feishu.alert",),
        filters={"lark_md": lark_md, "feishu_text": plain_text},
    ),
)

__all__ = [
    "FeishuCardSettings",
    "FeishuCards",
    "FeishuConfig",
    "FeishuNotifier",
    "feishu_check",
    "lark_md",
    "plain_text",
    "sign",
]
