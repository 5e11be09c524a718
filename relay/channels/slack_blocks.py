"""Slack's Block Kit limits, and how a message is cut to fit them: sections split at a
safe place, posts weighed by characters and blocks, a resolved post's edit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.core.alerts import Alert
from relay.core.text import slack_escape

MAX_BLOCKS = 50  # per message
MAX_SECTION_CHARS = 3000  # per section text
MAX_HEADER_CHARS = 150  # header block, plain text
MAX_POST_CHARS = 40_000  # all section texts of one post: Slack truncates text past this
ENTITIES = ("&amp;", "&lt;", "&gt;")  # what slack_escape produces


def split_section(text: str) -> list[str]:
    """``text`` as pieces of at most MAX_SECTION_CHARS, one section block each (nothing is
    cut off). Breaks at a newline, else a space, never inside a ``<link|text>`` or an
    escape like ``&amp;`` (an untrusted value would show as broken markup)."""
    pieces: list[str] = []
    while len(text) > MAX_SECTION_CHARS:
        cut = break_at(text, MAX_SECTION_CHARS)
        piece, text = text[:cut].rstrip(), text[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if text.strip() or not pieces:
        pieces.append(text)
    return pieces


def break_at(text: str, limit: int) -> int:
    cut = limit
    for sep in ("\n", " "):
        at = text.rfind(sep, 0, limit + 1)
        if at > limit // 2:
            cut = at
            break
    opened = text.rfind("<", 0, cut)
    if opened > 0 and opened > text.rfind(">", 0, cut):
        cut = opened  # a link longer than a section is cut anyway (opened == 0)
    amp = text.rfind("&", max(0, cut - 4), cut)
    if amp >= 0 and any(text.startswith(e, amp) and amp + len(e) > cut for e in ENTITIES):
        cut = amp
    return cut if cut > 0 else limit


def edit_of(post: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in post.items() if k in ("text", "attachments")}


def header_only(post: dict[str, Any]) -> dict[str, Any]:
    attachment = dict(post["attachments"][0])
    attachment["blocks"] = attachment["blocks"][:1]
    return {"text": post["text"], "attachments": [attachment]}


#: What a section block weighs in Chunk.size: MAX_BLOCKS - 3 of them weigh more than
#: MAX_POST_CHARS, so a post has at most MAX_BLOCKS - 4 sections, leaving room for the
#: header, the "and N more" note, the footer and the buttons.
BLOCK_WEIGHT = -(-MAX_POST_CHARS // (MAX_BLOCKS - 3))


@dataclass
class Chunk:
    """The section texts of one post, its "and N more" note, and its " (i/n)" mark."""

    sections: list[str]
    more: str = ""
    mark: str = ""

    def size(self) -> int:
        """Characters, with blocks weighed so that a post of ``MAX_BLOCKS`` blocks (the
        header and the note included) counts as full: a post must respect both."""
        blocks = len(self.sections) * BLOCK_WEIGHT
        return max(sum(len(s) for s in self.sections) + len(self.more), blocks)

    def cut(self, budget: int) -> Chunk:
        """An alert too big for a whole post: the sections that fit, then "…"."""
        kept = Chunk([], self.more)
        for section in self.sections:
            if Chunk([*kept.sections, section, "…"], self.more).size() > budget:
                break
            kept.sections.append(section)
        kept.sections.append("…")
        return kept

    def marked(self, index: int, total: int) -> Chunk:
        return Chunk(self.sections, self.more, f" ({index}/{total})")


def sections_of(post: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in post["attachments"][0]["blocks"] if b["type"] == "section"]


def cut_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def header_text(text: str) -> str:
    return cut_chars(" ".join(text.split()), MAX_HEADER_CHARS) or "alert"


def fallback_text(alert: Alert) -> str:
    return slack_escape(alert.labels.get("alertname", "alert"))
