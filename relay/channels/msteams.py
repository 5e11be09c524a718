"""Microsoft Teams through a Workflows (Power Automate) webhook: an Adaptive Card 1.4.

The card is built here; its texts come from two templates: ``msteams.title`` (first
line: the title, coloured by status; the rest: a subtitle) and ``msteams.alert`` per
alert (first line: its heading; every other ``Name: value`` line: a fact of its FactSet).
The templates escape values with ``markdown_escape``, since Teams reads TextBlocks and
facts as Markdown. Graph, silence and runbook links are ``Action.OpenUrl`` buttons. A
card over 28 KB of JSON is split on alert boundaries into cards marked ``(1/3)``...
The retired Office 365 connector format (MessageCard) is not implemented.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import SecretStr

from relay.channels.base import Channel, Message, NotifierContext, PartsConfig, destination_key
from relay.channels.http import Answer, call
from relay.channels.parts import PostingNotifier
from relay.channels.urls import secret_url_check
from relay.core.alerts import Alert, Notification
from relay.core.digests import Digest
from relay.core.errors import DeliveryError, PermanentError
from relay.core.rates import Rate
from relay.core.said import Said
from relay.core.text import alert_silence_url, http_url, markdown_escape
from relay.templating.digest import render_digest
from relay.templating.split import LazyList, cut_bytes, json_bytes, mark_at, nbytes, not_shown, split_rendered

#: Bytes of the posted JSON Teams accepts (it answers 413 past about 28 KB).
BODY_LIMIT = 28_000
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
COLORS = {"firing": "Attention", "resolved": "Good"}
#: An alert's heading by severity (resolved: Good; anything else: Default).
SEVERITY_COLORS = {
    "critical": "Attention",
    "error": "Attention",
    "page": "Attention",
    "warning": "Warning",
    "warn": "Warning",
}
#: Button titles and the "and N more" note, by locale.
WORDS = {
    "en": {
        "graph": "📈 Graph",
        "silence": "🔕 Silence",
        "runbook": "📖 Runbook",
        "more": "… and {n} more not shown",
        "all": "see all",
    },
    "zh-CN": {
        "graph": "📈 查看图表",
        "silence": "🔕 静默",
        "runbook": "📖 处理手册",
        "more": "……另有 {n} 条告警未显示",
        "all": "查看全部",
    },
}
#: HTTP status -> relay's hint on what to change (Teams' own words are kept too).
HINTS = {
    400: "the workflow refused the card: its trigger must be 'When a Teams webhook request "
    "is received' and the flow must post the card it receives",
    401: "the URL's sig= is wrong or the workflow only accepts signed-in callers",
    403: "the workflow's trigger does not allow anonymous calls ('Who can trigger: Anyone')",
    404: "the workflow was deleted or the URL is incomplete: copy it again from the trigger",
}
#: Query parameters of a Workflows URL that are not secret (the signature, sig=, is).
_PUBLIC_PARAMS = frozenset({"api-version", "sp", "sv"})
_RETIRED = ("webhook.office.com/webhookb2/", "outlook.office.com/webhook/")


class MSTeamsConfig(PartsConfig):
    kind: ClassVar[str] = "msteams"
    vendor_fields: ClassVar[tuple[str, ...]] = ("webhook_url",)
    secret_fields: ClassVar[tuple[str, ...]] = ("webhook_url",)

    webhook_url: SecretStr

    _absolute_url = secret_url_check(
        "webhook_url", "must be the workflow's full URL (https://...logic.azure.com/workflows/...&sig=...)"
    )

    def config_warnings(self) -> list[tuple[str, str]]:
        url = self.webhook_url.get_secret_value()
        if any(marker in url for marker in _RETIRED):
            return [
                (
                    "webhook_url",
                    Said(
                        "is an Office 365 connector URL; connectors are retired: "
                        "create a Workflow and use its URL (docs/channels.md)",
                        "是 Office 365 连接器（connector）地址；连接器已停用："
                        "请创建一个 Workflow 并使用它的地址（见 docs/channels.md）",
                    ),
                )
            ]
        return []

    def secrets(self) -> list[str]:
        """The URL, its signature and its workflow id (path segments of 16+ characters)."""
        url = self.webhook_url.get_secret_value()
        parts = urlsplit(url)
        found = [url, *(v for k, v in parse_qsl(parts.query) if k not in _PUBLIC_PARAMS)]
        found += [unquote(s) for s in parts.path.split("/") if len(s) >= 16]
        return list(dict.fromkeys(v for v in found if v))

    def build(self, ctx: NotifierContext) -> MSTeamsNotifier:
        return MSTeamsNotifier(self, ctx)


def teams_check(answer: Answer) -> DeliveryError | None:
    """The status rules decide; a 4xx gets relay's hint beside the workflow's words."""
    hint = HINTS.get(answer.status)
    if hint is None:
        return None
    data = answer.data
    error = data.get("error") if isinstance(data, dict) else None
    words = " ".join(answer.text.split())[:300]
    if isinstance(error, dict):
        words = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")[:300]
    message = f"Teams workflow: HTTP {answer.status}" + (f": {words}" if words else "")
    return PermanentError(f"http_{answer.status}", f"{message} ({hint})")


def message_of(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The message Workflows takes: one attachment, an Adaptive Card 1.4 of ``blocks``."""
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": blocks,
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


#: The card with " (index/total)" after its title.
mark_card = mark_at("attachments", 0, "content", "body", 0, "text")


def title_block(text: str, color: str) -> dict[str, Any]:
    return {
        "type": "TextBlock",
        "text": text,
        "size": "Large",
        "weight": "Bolder",
        "color": color,
        "wrap": True,
    }


def cut_card(body: dict[str, Any], budget: int) -> dict[str, Any]:
    """One alert too big for a card of its own: its longest texts are cut, with "…",
    until the card fits."""
    cut = copy.deepcopy(body)
    while (over := json_bytes(cut) - budget) > 0:
        texts = [(node, key) for node, key in _texts(cut["attachments"][0]["content"]) if node[key]]
        if not texts:
            break
        node, key = max(texts, key=lambda t: nbytes(t[0][t[1]]))
        value: str = node[key]
        escaped = nbytes(json.dumps(value, ensure_ascii=False))  # what it weighs in the body
        text = cut_bytes(value, nbytes(value) * max(0, escaped - over - 8) // escaped)
        while text.endswith("\\…"):  # a dangling escape would eat the ellipsis
            text = text[:-2] + "…"
        node[key] = text if text != node[key] else ""
    return cut


def _texts(node: Any) -> list[tuple[dict[str, Any], str]]:
    """(dict, key) of every text in the card that may be cut: texts, facts, titles."""
    found: list[tuple[dict[str, Any], str]] = []
    if isinstance(node, dict):
        found += [(node, k) for k in ("text", "title", "value") if isinstance(node.get(k), str)]
        for child in node.values():
            found += _texts(child)
    elif isinstance(node, list):
        for child in node:
            found += _texts(child)
    return found


class MSTeamsNotifier(PostingNotifier[MSTeamsConfig]):
    """POSTs Adaptive Card messages to a Workflows webhook."""

    limit = BODY_LIMIT

    def __init__(self, config: MSTeamsConfig, ctx: NotifierContext) -> None:
        super().__init__(config, ctx)
        self._url = config.webhook_url.get_secret_value()
        self._secrets = config.secrets()
        self.rate_limit_key = destination_key("msteams", self._url)
        self.rate_limits = (Rate(4, 1.0),)  # Teams throttles a webhook past ~4 per second

    def mentions(self, n: Notification) -> list[dict[str, Any]]:
        """Adaptive Card mention entities (``<at>Name</at>`` in a TextBlock, and the
        entity naming the user's Teams id) for each person an escalation step pages who
        has one; the others are named by the title's escalation line."""
        if n.escalation is None or not n.firing:
            return []
        directory = self._ctx.addresses("msteams")
        found = []
        for person in n.escalation.people:
            if person in directory:
                name = markdown_escape(n.escalation.shown(person)).replace("<", "").replace(">", "")
                found.append(
                    {
                        "type": "mention",
                        "text": f"<at>{name}</at>",
                        "mentioned": {"id": directory[person], "name": name},
                    }
                )
        return found

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The message bodies ``send`` would POST, in order."""
        n = message.notification
        render = self._ctx.renderer.render
        title, _, subtitle = render("msteams.title", n, locale=self._locale).partition("\n")
        head = [title_block(title.strip() or "alert", COLORS[n.status])]
        if subtitle.strip():
            head.append(
                {
                    "type": "TextBlock",
                    "text": subtitle.strip(),
                    "isSubtle": True,
                    "spacing": "None",
                    "wrap": True,
                }
            )
        # Built when a part needs them: a capped message of a huge group shows few.
        alerts = LazyList(
            lambda i: self._alert(
                n, n.alerts[i], render("msteams.alert", n, locale=self._locale, alert=n.alerts[i])
            )
        )
        words = WORDS[self._locale]
        group_url = http_url(self._ctx.renderer.group_url(n))
        links = self._ctx.renderer.action_links(n, self._locale)
        if links:
            head.append(
                {
                    "type": "ActionSet",
                    "actions": [
                        {"type": "Action.OpenUrl", "title": x["label"], "url": x["url"]} for x in links
                    ],
                }
            )
        mentions = self.mentions(n)
        if mentions:
            text = " ".join(entity["text"] for entity in mentions)
            head.append({"type": "TextBlock", "text": text, "wrap": True, "spacing": "Small"})

        def card(indices: Sequence[int], more: int | None) -> dict[str, Any]:
            body = head + [alerts[i] for i in indices]
            hidden = not_shown(n.truncated_alerts, more)
            if hidden:
                text = words["more"].format(n=hidden)
                if group_url:
                    text += f" [{words['all']}]({group_url})"
                body.append({"type": "TextBlock", "text": text, "isSubtle": True, "wrap": True})
            made = message_of(copy.deepcopy(body))
            if mentions:
                made["attachments"][0]["content"]["msteams"]["entities"] = copy.deepcopy(mentions)
            return made

        return split_rendered(
            card,
            len(n.alerts),
            BODY_LIMIT,
            measure=json_bytes,
            cut=cut_card,
            mark=mark_card,
            max_parts=self._cfg.max_parts,
        )

    def _alert(self, n: Notification, alert: Alert, text: str) -> dict[str, Any]:
        """A container: the heading, the facts, the links."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        heading = lines.pop(0) if lines else markdown_escape(alert.labels.get("alertname", "alert"))
        facts = []
        for line in lines:
            name, sep, value = line.partition(": ")
            facts.append({"title": name, "value": value} if sep else {"title": "", "value": line})
        items: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": heading,
                "weight": "Bolder",
                "wrap": True,
                "color": "Good"
                if alert.status == "resolved"
                else SEVERITY_COLORS.get(alert.labels.get("severity", "").lower(), "Default"),
            },
        ]
        if facts:
            items.append({"type": "FactSet", "facts": facts})
        words = WORDS[self._locale]
        links = [
            ("graph", http_url(alert.generatorURL)),
            (
                "silence",
                http_url(alert_silence_url(alert, n.external_url)) if alert.status == "firing" else "",
            ),
            ("runbook", http_url(alert.annotations.get("runbook_url"))),
        ]
        actions = [{"type": "Action.OpenUrl", "title": words[kind], "url": url} for kind, url in links if url]
        if actions:
            items.append({"type": "ActionSet", "actions": actions})
        return {"type": "Container", "separator": True, "items": items}

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        """One card per part: the digest's first line as its title, the rest one block."""
        color = COLORS["firing" if digest.firing else "resolved"]

        def card(text: str) -> dict[str, Any]:
            title, _, rest = text.partition("\n")
            return message_of(
                [
                    title_block(title.strip() or "digest", color),
                    {"type": "TextBlock", "text": rest.strip(), "wrap": True},
                ]
            )

        texts = render_digest(
            self._ctx.renderer,
            "msteams.digest",
            digest,
            locale=self._locale,
            limit=BODY_LIMIT,
            measure=lambda text: json_bytes(card(text)),
        )
        return [card(text) for text in texts]

    async def _post(self, body: dict[str, Any]) -> None:
        await call(
            self._ctx.http,
            "POST",
            self._url,
            what="Teams workflow",
            request_timeout=self._ctx.timeout,
            secrets=self._secrets,
            json=body,
            check=teams_check,
        )


CHANNELS = (
    Channel(
        "msteams",
        MSTeamsConfig,
        templates=("msteams.title", "msteams.alert", "msteams.digest"),
        preview_settings={
            "webhook_url": "https://prod-00.westus.logic.azure.com/workflows/"
            "0123456789abcdef/triggers/manual/paths/invoke?sig=preview"
        },
        per_alert=("msteams.alert",),
    ),
)
