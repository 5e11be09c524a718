"""Splitting a message that is too big for one post into numbered parts, on alert
boundaries and never inside a character (UTF-8 byte limits, as WeCom counts them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from relay.templating import truncate_bytes

ELLIPSIS = "…"


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes at a character boundary, marked "…"
    (a trailing newline is kept)."""
    if nbytes(text) <= limit:
        return text
    if text.endswith("\n") and limit > nbytes(ELLIPSIS):
        return truncate_bytes(text[:-1], limit - 1, ELLIPSIS) + "\n"
    return truncate_bytes(text, limit, ELLIPSIS)


def mark_part(header: str, index: int, total: int) -> str:
    """``header`` with " (index/total)" at the end of its first line."""
    if not header:
        return f"({index}/{total})\n"
    line, newline, rest = header.partition("\n")
    return f"{line} ({index}/{total}){newline}{rest}"


def split_messages(header: str, blocks: Sequence[str], footer: str, limit: int) -> list[str]:
    """Pack ``header`` + ``blocks`` + ``footer`` into messages of at most ``limit`` bytes.

    Pieces are concatenated as given (they carry their own newlines). Every message
    starts with the header; when there are several, its first line ends with " (i/n)".
    Blocks stay whole and in order, each in exactly one message; a block too big for a
    message of its own is cut at a character boundary and ends with "…". The footer
    ("and N more") ends the last message. Never cuts a character.
    """

    def render(indices: Sequence[int], last: bool) -> str:
        return header + "".join(blocks[i] for i in indices) + (footer if last else "")

    return split_rendered(render, len(blocks), limit)


#: ``render(alert indices, last)``: the message for those alerts; ``last`` adds the
#: footer ("and N more").
RenderPart = Callable[[Sequence[int], bool], str]


def split_rendered(render: RenderPart, count: int, limit: int) -> list[str]:
    """Messages of at most ``limit`` UTF-8 bytes covering alerts ``0..count-1`` in order.

    ``render`` is called once for everything (the common case: it fits), otherwise once
    per alert to estimate sizes and once per part; a part that still does not fit is
    halved, and a single alert that does not fit alone is cut with "…". Parts are
    numbered " (i/n)" at the end of their first line when there are several.
    """
    if limit < 32:
        raise ValueError("limit must be at least 32 bytes")
    full = render(range(count), True)
    if nbytes(full) <= limit:
        return [full]
    base = nbytes(render((), False))
    footer = max(0, nbytes(render((), True)) - base)
    sizes = [max(0, nbytes(render((i,), False)) - base) for i in range(count)]
    width = 1
    while True:
        reserve = 2 * width + 4  # " (i/n)" with at most `width` digits each
        groups = _pack(sizes, footer, base + reserve, limit)
        texts: list[str] = []
        for k, group in enumerate(groups):
            texts += _fit(render, group, k == len(groups) - 1, limit - reserve)
        if len(str(len(texts))) <= width:
            break
        width = len(str(len(texts)))
    if len(texts) == 1:  # one oversized alert, cut: nothing to number
        return texts
    return [mark_part(text, i, len(texts)) for i, text in enumerate(texts, 1)]


def _pack(sizes: Sequence[int], footer: int, base: int, limit: int) -> list[list[int]]:
    groups: list[list[int]] = [[]]
    used = base
    for index, size in enumerate(sizes):
        if groups[-1] and used + size > limit:
            groups.append([])
            used = base
        groups[-1].append(index)
        used += size
    if footer and groups[-1] and used + footer > limit:
        groups.append([])
    return groups


def _fit(render: RenderPart, group: list[int], last: bool, budget: int) -> list[str]:
    text = render(group, last)
    if nbytes(text) <= budget:
        return [text]
    if len(group) > 1:  # the estimate was off (a template that is not additive): halve
        mid = len(group) // 2
        return _fit(render, group[:mid], False, budget) + _fit(render, group[mid:], last, budget)
    if last and group and render([], True) != render([], False):
        # the footer ("and N more") goes on alone rather than be cut off
        return _fit(render, group, False, budget) + _fit(render, [], True, budget)
    return [cut_bytes(text, budget)]
