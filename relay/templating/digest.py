"""Rendering a digest (relay.core.digests) with a channel's ``<kind>.digest`` template,
split between entries to the channel's size limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from relay.core.digests import Digest
from relay.templating.engine import Renderer
from relay.templating.split import nbytes, split_rendered


def render_digest(
    renderer: Renderer,
    name: str,
    digest: Digest,
    *,
    locale: str,
    limit: int | None,
    measure: Callable[[str], int] | None = None,
    cut: Callable[[str, int], str] | None = None,
    **extra: Any,
) -> list[str]:
    """Template ``name`` for ``digest``: one text, or several when it exceeds ``limit``
    (as ``measure`` counts, UTF-8 bytes by default), split between entries. Every part
    is a complete rendering with the digest's totals in its header and its share of
    the entries; each entry is in exactly one part, in order. ``limit=None``: one text.
    ``cut`` shortens one entry too big alone (default: cut the text with "…"); ``extra``
    goes into the template's context (WeCom's ``msgtype``)."""

    def render(indices: Sequence[int], more: int | None) -> str:
        chosen = [digest.entries[i] for i in indices]
        return renderer.render_digest(name, digest, locale=locale, entries=chosen, **extra)

    if limit is None:
        return [render(range(len(digest.entries)), 0)]
    return split_rendered(render, len(digest.entries), limit, measure=measure or nbytes, cut=cut)
