"""Splitting a message too big for one post into numbered parts, for every channel.

A channel gives a ``render(indices, more)`` that renders its message for some of the
notification's alerts (``more`` is not None on the last part, which adds the footer,
"and N more"), a ``measure`` that counts a rendering as its vendor does (UTF-8 bytes for
WeCom and DingTalk, characters for Telegram, JSON bytes for a card) and the vendor's
limit. :func:`split_rendered` returns the fewest renderings, in alert order, each within
the limit: alerts stay whole (one alert too big for a message of its own is cut by
``cut``), each in at most one part, and parts are marked ``(i/n)`` by ``mark`` when there
are several. Each part is a complete rendering of the channel's template, so its header
counts the whole group. A channel's ``max_parts`` caps the parts: the alerts past the cap
are not shown, and the last part's footer counts them (and links the group's page).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from relay.core.text import truncate_bytes

ELLIPSIS = "…"

T = TypeVar("T")

#: ``render(alert indices, more)``: the message for those alerts. ``more`` is None for a
#: part that is not the last; on the last it is how many alerts the part cap left out,
#: and the footer ("and N more") is added.
RenderPart = Callable[[Sequence[int], int | None], T]


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

    def render(indices: Sequence[int], more: int | None) -> str:
        return header + "".join(blocks[i] for i in indices) + (footer if more is not None else "")

    return split_rendered(render, len(blocks), limit)


class LazyList(Generic[T]):
    """``make(i)`` for an index, made when first asked for and kept: the per-alert pieces
    of a split message (Slack sections, Feishu card elements), so a capped message of a
    group of 10,000 alerts builds only those of the alerts it shows."""

    def __init__(self, make: Callable[[int], T]) -> None:
        self._make = make
        self._made: dict[int, T] = {}

    def __getitem__(self, index: int) -> T:
        if index not in self._made:
            self._made[index] = self._make(index)
        return self._made[index]


def not_shown(upstream: int, more: int | None) -> int:
    """What a part's footer counts as "not shown": none but on the last part (``more``
    is None elsewhere), where it is the alerts Alertmanager left out (``upstream``) plus
    the ``more`` the part cap left out."""
    return 0 if more is None else upstream + more


def split_rendered(
    render: Callable[[Sequence[int], int | None], T],
    count: int,
    limit: int,
    *,
    measure: Callable[[T], int] = nbytes,  # type: ignore[assignment]
    cut: Callable[[T, int], T] | None = None,
    mark: Callable[[T, int, int], T] = mark_part,  # type: ignore[assignment]
    mark_width: int = 4,
    max_parts: int | None = None,
) -> list[T]:
    """Renderings within ``limit`` (as ``measure`` counts) covering alerts ``0..count-1``,
    at most ``max_parts`` of them.

    ``render(indices, more)`` renders those alerts; ``more`` is None for a part that is
    not the last, and for the last one the number of alerts left out by the cap (0 when
    every alert is in a part), which its footer adds to "and N more".

    The work is linear in the alerts that are shown, not in ``count``: a small group is
    rendered once whole (the common case: it fits); otherwise each alert's size is
    estimated by rendering it alone, as far as the parts reach, and each part is
    rendered once. A part that still does not fit is halved, and a single alert that
    does not fit alone is passed to ``cut`` (default: cut the text at a character
    boundary, with "…"). When there are several parts each goes through
    ``mark(part, i, n)``; ``mark_width`` is what the mark adds per digit of ``n`` beyond
    the digits themselves (" (/)" is 4).
    """
    if limit < 32:
        raise ValueError("limit must be at least 32")
    if max_parts is not None and max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    if count <= RENDER_WHOLE_UP_TO:
        full = render(range(count), 0)
        if measure(full) <= limit:
            return [full]
    sizes = _Sizes(render, measure)
    if count > RENDER_WHOLE_UP_TO and sizes.fits(count, limit):
        full = render(range(count), 0)
        if measure(full) <= limit:
            return [full]
    cutter = cut if cut is not None else _default_cut(measure)
    width = 1
    while True:
        reserve = 2 * width + mark_width  # " (i/n)" with at most `width` digits each
        groups = sizes.pack(count, limit - reserve, max_parts)
        if len(str(len(groups))) > width:  # more parts than the mark left room for
            width = len(str(len(groups)))
            continue
        pieces: list[tuple[T, list[int], int | None]] = []
        for group, more in groups:
            pieces += _fit(render, group, more, limit - reserve, measure, cutter)
        parts = _capped(render, pieces, count, max_parts, limit - reserve, measure, cutter)
        if len(str(len(parts))) <= width:
            break
        width = len(str(len(parts)))
    if len(parts) == 1:  # one oversized alert, cut, or a cap of one: nothing to number
        return parts
    return [mark(part, i, len(parts)) for i, part in enumerate(parts, 1)]


#: A group of at most this many alerts is first rendered whole: one render when it fits.
RENDER_WHOLE_UP_TO = 50


class _Sizes(Generic[T]):
    """What each alert adds to a part, measured when first needed (rendered alone)."""

    def __init__(self, render: Callable[[Sequence[int], int | None], T], measure: Callable[[T], int]):
        self._render = render
        self._measure = measure
        self.base = measure(render((), None))
        self._sizes: list[int] = []
        self._footers: dict[int, int] = {}

    def of(self, index: int) -> int:
        while len(self._sizes) <= index:
            alone = self._render((len(self._sizes),), None)
            self._sizes.append(max(0, self._measure(alone) - self.base))
        return self._sizes[index]

    def footer(self, more: int) -> int:
        """What the footer adds when ``more`` alerts are left out."""
        if more not in self._footers:
            self._footers[more] = max(0, self._measure(self._render((), more)) - self.base)
        return self._footers[more]

    def fits(self, count: int, limit: int) -> bool:
        """Whether every alert fits in one part, by the estimates (stops at the first
        alert past the limit, so a huge group costs only what one part holds)."""
        used = self.base + self.footer(0)
        for index in range(count):
            used += self.of(index)
            if used > limit:
                return False
        return True

    def pack(self, count: int, limit: int, max_parts: int | None) -> list[tuple[list[int], int | None]]:
        """Alerts in order into groups within ``limit``, each with its ``more`` (None but
        for the last group). At most ``max_parts`` groups: the last one then leaves room
        for a footer that counts the alerts left out."""
        groups: list[tuple[list[int], int | None]] = []
        start = 0
        while start < count:
            if max_parts is not None and len(groups) == max_parts - 1:
                # The last part the cap allows: room for a footer counting what is left out.
                reserve = self.footer(count - start)
                group, end = self._take(start, count, limit - reserve, allow_empty=True)
                if end < count:
                    groups.append((group, count - end))
                    return groups
            group, end = self._take(start, count, limit, allow_empty=False)
            groups.append((group, None))
            start = end
        if not groups:
            return [([], 0)]
        last, _ = groups[-1]
        used = self.base + sum(self.of(i) for i in last)
        if (
            used + self.footer(0) > limit
            and self.footer(0)
            and (max_parts is None or len(groups) < max_parts)
        ):
            groups.append(([], 0))  # the footer ("and N more") goes on alone rather than be cut off
        else:
            groups[-1] = (last, 0)
        return groups

    def _take(self, start: int, count: int, limit: int, *, allow_empty: bool) -> tuple[list[int], int]:
        used = self.base
        index = start
        while index < count and (used + self.of(index) <= limit or (index == start and not allow_empty)):
            used += self.of(index)
            index += 1
        return list(range(start, index)), index


def _capped(
    render: Callable[[Sequence[int], int | None], T],
    pieces: list[tuple[T, list[int], int | None]],
    count: int,
    max_parts: int | None,
    budget: int,
    measure: Callable[[T], int],
    cut: Callable[[T, int], T],
) -> list[T]:
    """The parts, at most ``max_parts``: halving a part that was estimated too small can
    make more than the cap; the last allowed part then counts the rest as left out."""
    if max_parts is None or len(pieces) <= max_parts:
        return [part for part, _, _ in pieces]
    kept = pieces[: max_parts - 1]
    _, indices, _ = pieces[max_parts - 1]
    last = render(indices, count - (indices[-1] + 1 if indices else _end(kept)))
    if measure(last) > budget:
        last = cut(last, budget)
    return [part for part, _, _ in kept] + [last]


def _end(pieces: list[tuple[T, list[int], int | None]]) -> int:
    """One past the last alert in ``pieces`` (0 when there is none)."""
    ends = [indices[-1] + 1 for _, indices, _ in pieces if indices]
    return max(ends, default=0)


def _default_cut(measure: Callable[[T], int]) -> Callable[[T, int], T]:
    def cut(part: T, budget: int) -> T:
        if not isinstance(part, str):
            raise TypeError("a channel whose parts are not text must pass cut=")
        if measure is nbytes:
            return cut_bytes(part, budget)  # type: ignore[return-value]
        return cut_measured(part, budget, measure)  # type: ignore[arg-type, return-value]

    return cut


def _fit(
    render: Callable[[Sequence[int], int | None], T],
    group: list[int],
    more: int | None,
    budget: int,
    measure: Callable[[T], int],
    cut: Callable[[T, int], T],
) -> list[tuple[T, list[int], int | None]]:
    part = render(group, more)
    if measure(part) <= budget:
        return [(part, group, more)]
    if len(group) > 1:  # the estimate was off (a template that is not additive): halve
        mid = len(group) // 2
        return _fit(render, group[:mid], None, budget, measure, cut) + _fit(
            render, group[mid:], more, budget, measure, cut
        )
    if more is not None and group and render([], more) != render([], None):
        # the footer ("and N more") goes on alone rather than be cut off
        return _fit(render, group, None, budget, measure, cut) + _fit(render, [], more, budget, measure, cut)
    return [(cut(part, budget), group, more)]
