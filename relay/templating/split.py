"""Splitting a message too big for one post into numbered parts, for every channel.

A channel gives a ``render(indices, last)`` that renders its message for some of the
notification's alerts (``last`` adds the footer, "and N more"), a ``measure`` that counts
a rendering as its vendor does (UTF-8 bytes for WeCom and DingTalk, characters for
Telegram, JSON bytes for a card) and the vendor's limit. :func:`split_rendered` returns
the fewest renderings, in alert order, each within the limit: alerts stay whole (one
alert too big for a message of its own is cut by ``cut``), each in exactly one part, and
parts are marked ``(i/n)`` by ``mark`` when there are several. Each part is a complete
rendering of the channel's template, so its header counts the whole group.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from relay.core.text import truncate_bytes

ELLIPSIS = "…"

T = TypeVar("T")

#: ``render(alert indices, last)``: the message for those alerts; ``last`` adds the footer.
RenderPart = Callable[[Sequence[int], bool], T]


def nbytes(text: str) -> int:
    """Length in UTF-8 bytes: how WeCom, DingTalk and Feishu count."""
    return len(text.encode("utf-8"))


def nchars(text: str) -> int:
    """Length in UTF-16 code units: how Telegram counts "characters" (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def compact_json(body: Any) -> bytes:
    """``body`` as a channel posts it: compact JSON, UTF-8 (not ASCII-escaped), so what
    is measured is what is sent."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def json_bytes(body: Any) -> int:
    """Length of :func:`compact_json`: how DingTalk, Feishu and Teams count a body."""
    return len(compact_json(body))


def cut_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes at a character boundary, marked "…"
    (a trailing newline is kept)."""
    if nbytes(text) <= limit:
        return text
    if text.endswith("\n") and limit > nbytes(ELLIPSIS):
        return truncate_bytes(text[:-1], limit - 1, ELLIPSIS) + "\n"
    return truncate_bytes(text, limit, ELLIPSIS)


def cut_measured(text: str, limit: int, measure: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` (plus "…") whose ``measure`` is at most ``limit``."""
    if measure(text) <= limit:
        return text
    low, high = 0, len(text)
    while low < high:  # the largest prefix length that fits with the ellipsis
        mid = (low + high + 1) // 2
        if measure(text[:mid] + ELLIPSIS) <= limit:
            low = mid
        else:
            high = mid - 1
    return text[:low] + ELLIPSIS


def mark_part(header: str, index: int, total: int) -> str:
    """``header`` with " (index/total)" at the end of its first line."""
    if not header:
        return f"({index}/{total})\n"
    line, newline, rest = header.partition("\n")
    return f"{line} ({index}/{total}){newline}{rest}"


def mark_at(*path: str | int) -> Callable[[dict[str, Any], int, int], dict[str, Any]]:
    """A ``mark`` for a JSON body (a card): a copy with " (index/total)" after the text
    found at ``path`` (its title)."""

    def mark(body: dict[str, Any], index: int, total: int) -> dict[str, Any]:
        marked = copy.deepcopy(body)
        node: Any = marked
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] += f" ({index}/{total})"
        return marked

    return mark


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


def split_rendered(
    render: Callable[[Sequence[int], bool], T],
    count: int,
    limit: int,
    *,
    measure: Callable[[T], int] = nbytes,  # type: ignore[assignment]
    cut: Callable[[T, int], T] | None = None,
    mark: Callable[[T, int, int], T] = mark_part,  # type: ignore[assignment]
    mark_width: int = 4,
) -> list[T]:
    """Renderings within ``limit`` (as ``measure`` counts) covering alerts ``0..count-1``.

    ``render`` is called once for everything (the common case: it fits), otherwise once
    per alert to estimate sizes and once per part; a part that still does not fit is
    halved, and a single alert that does not fit alone is passed to ``cut`` (default:
    cut the text at a character boundary, with "…"). When there are several parts each
    goes through ``mark(part, i, n)``; ``mark_width`` is what the mark adds per digit of
    ``n`` beyond the digits themselves (" (/)" is 4).
    """
    if limit < 32:
        raise ValueError("limit must be at least 32")
    full = render(range(count), True)
    if measure(full) <= limit:
        return [full]
    cutter = cut if cut is not None else _default_cut(measure)
    base = measure(render((), False))
    footer = max(0, measure(render((), True)) - base)
    sizes = [max(0, measure(render((i,), False)) - base) for i in range(count)]
    width = 1
    while True:
        reserve = 2 * width + mark_width  # " (i/n)" with at most `width` digits each
        groups = _pack(sizes, footer, base + reserve, limit)
        parts: list[T] = []
        for k, group in enumerate(groups):
            last = k == len(groups) - 1
            parts += _fit(render, group, last, limit - reserve, measure, cutter)
        if len(str(len(parts))) <= width:
            break
        width = len(str(len(parts)))
    if len(parts) == 1:  # one oversized alert, cut: nothing to number
        return parts
    return [mark(part, i, len(parts)) for i, part in enumerate(parts, 1)]


def _default_cut(measure: Callable[[T], int]) -> Callable[[T, int], T]:
    def cut(part: T, budget: int) -> T:
        if not isinstance(part, str):
            raise TypeError("a channel whose parts are not text must pass cut=")
        if measure is nbytes:
            return cut_bytes(part, budget)  # type: ignore[return-value]
        return cut_measured(part, budget, measure)  # type: ignore[arg-type, return-value]

    return cut


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


def _fit(
    render: Callable[[Sequence[int], bool], T],
    group: list[int],
    last: bool,
    budget: int,
    measure: Callable[[T], int],
    cut: Callable[[T, int], T],
) -> list[T]:
    part = render(group, last)
    if measure(part) <= budget:
        return [part]
    if len(group) > 1:  # the estimate was off (a template that is not additive): halve
        mid = len(group) // 2
        return _fit(render, group[:mid], False, budget, measure, cut) + _fit(
            render, group[mid:], last, budget, measure, cut
        )
    if last and group and render([], True) != render([], False):
        # the footer ("and N more") goes on alone rather than be cut off
        return _fit(render, group, False, budget, measure, cut) + _fit(render, [], True, budget, measure, cut)
    return [cut(part, budget)]
