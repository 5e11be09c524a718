"""Secret parts of an endpoint URL, for redaction.

A webhook URL is a secret as a whole, but the far side (or a proxy) may echo only a part
of it: Slack's ``/services/T…/B…/<secret>`` path or its last segment, WeCom's bare
``key`` value. Redacting the whole URL alone would let those through.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

#: Shorter path segments are words (``services``, ``send``), not credentials.
MIN_SEGMENT = 16
#: Shorter query values are flags and ids; keys and tokens are longer.
MIN_VALUE = 8


def url_secret_parts(url: str) -> list[str]:
    """The URL itself, then its path, long path segments, query values and password."""
    parts = urlsplit(url)
    found = [url]
    path = parts.path.rstrip("/")
    segments = [unquote(s) for s in path.split("/") if len(s) >= MIN_SEGMENT]
    if segments:
        found.append(path)
        found += segments
    found += [v for _, v in parse_qsl(parts.query) if len(v) >= MIN_VALUE]
    if parts.password:
        found.append(unquote(parts.password))
    return list(dict.fromkeys(found))
