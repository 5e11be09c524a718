"""Every relative link in README.md and docs/*.md points at a file that exists, and every
``#anchor`` at a heading of its target, slugged as GitHub slugs headings.

GitHub's rule (github-slugger): take the heading's text as rendered (no backticks, link
targets or emphasis markers), lowercase it, drop every character that is not a letter,
a digit, a mark, ``-``, ``_`` or a space (CJK are letters and stay), turn each space
into ``-``; the second heading with the same slug gets ``-1``, the third ``-2``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ID = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def heading_text(markdown: str) -> str:
    """The text GitHub renders for a heading's markdown (what the slug is made from)."""
    parts = INLINE_CODE.split(markdown)  # text, fence, code, text, fence, code, ..., text
    rendered = []
    for i in range(0, len(parts), 3):
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", parts[i])  # links and images: their text
        text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
        text = re.sub(r"\*{1,3}(\S(?:.*?\S)?)\*{1,3}", r"\1", text)  # *emphasis*
        text = re.sub(r"(?<!\w)_{1,3}(\S(?:.*?\S)?)_{1,3}(?!\w)", r"\1", text)  # _emphasis_, not snake_case
        rendered.append(text)
        if i + 2 < len(parts):
            rendered.append(parts[i + 2].strip())
    return "".join(rendered)


def slug(text: str) -> str:
    kept = "".join(c for c in text.lower() if c in "-_ " or unicodedata.category(c)[0] in "LMN")
    return kept.replace(" ", "-")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks (the docs use no indented ones)."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            continue
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        lines.append((number, line))
    return lines


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub generates for the headings of a markdown file."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    previous = ""
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        result.update(HTML_ID.findall(line))
        match = ATX_HEADING.match(line)
        text = match.group(2) if match else None
        underlined = SETEXT_UNDERLINE.match(line) and previous.strip() and not previous.startswith("|")
        if text is None and underlined:
            text = previous.strip()
        previous = line
        if text is None:
            continue
        base = slug(heading_text(text))
        candidate = base
        while candidate in result:
            seen[base] = seen.get(base, 0) + 1
            candidate = f"{base}-{seen[base]}"
        result.add(candidate)
    return result


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}: {self.target}"


def links(path: Path) -> list[Link]:
    found: list[Link] = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        prose = INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)
        targets = [m.group(1) for m in INLINE_LINK.finditer(prose)]
        definition = REFERENCE_DEF.match(prose)
        if definition:
            targets.append(definition.group(1))
        for target in targets:
            target = target.strip("<>")
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # absolute URLs (http:, mailto:) are not checked here
            found.append(Link(path, number, target))
    return found


ALL_LINKS = [link for doc in DOCS for link in links(doc)]


def problem(link: Link) -> str | None:
    """What is wrong with a relative link, or None."""
    file_part, _, anchor = link.target.partition("#")
    target = (link.source.parent / unquote(file_part)).resolve() if file_part else link.source
    if not target.exists():
        return f"{file_part} does not exist"
    if ROOT not in target.parents and target != ROOT:
        return f"{file_part} is outside the repository"
    if anchor:
        if target.suffix != ".md":
            return None  # line anchors (#L10) of source files are GitHub's, not checked
        if unquote(anchor) not in anchors(target):
            return f"no heading in {target.relative_to(ROOT)} has the anchor #{anchor}"
    return None


def test_slug_follows_github() -> None:
    assert slug(heading_text("Email (`email_configs`)")) == "email-email_configs"
    assert slug(heading_text("Overriding built-ins (`templates:`)")) == "overriding-built-ins-templates"
    assert slug(heading_text("WeCom 企业微信: 群机器人")) == "wecom-企业微信-群机器人"
    assert slug(heading_text("What a 200 guarantees?")) == "what-a-200-guarantees"
    assert slug(heading_text("A [linked](x.md) **bold** heading")) == "a-linked-bold-heading"
    assert slug(heading_text("Step 1 — compose")) == "step-1--compose"
    assert slug(heading_text("WeCom app (`wecom_app_configs`)")) == "wecom-app-wecom_app_configs"
    assert slug(heading_text("_under_ and snake_case_name")) == "under-and-snake_case_name"


def test_duplicate_headings_get_numbered(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Setup\n\n## Setup\n\n```\n# Setup\n```\n\nSetup\n-----\n\n### Other\n")
    assert anchors(doc) == {"setup", "setup-1", "setup-2", "other"}


def test_links_are_found_outside_code_only(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        'See [a](a.md#x), ![img](img.png "t") and `[not](code.md)`.\n\n'
        "```\n[not](fenced.md)\n```\n\n[ref]: b.md#y\n[web](https://example.com)\n"
    )
    assert [link.target for link in links(doc)] == ["a.md#x", "img.png", "b.md#y"]


def test_docs_have_links() -> None:
    assert len(ALL_LINKS) > 10, "the link parser found (almost) nothing: is it broken?"


@pytest.mark.parametrize("link", ALL_LINKS, ids=str)
def test_relative_link_resolves(link: Link) -> None:
    assert problem(link) is None, f"{link}: {problem(link)}"
