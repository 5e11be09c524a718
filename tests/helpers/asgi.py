"""One request straight into an ASGI app, headers and body as given: no client library
fixes a Content-Length, and the body may stop half way or hang."""

from __future__ import annotations

import asyncio
from typing import Any


async def call_asgi(
    app: Any,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body_events: list[dict[str, Any]],
    *,
    hang: bool = False,
) -> list[dict[str, Any]]:
    """POST ``path``: the body arrives as ``body_events``, then (``hang``) nothing more
    ever arrives, or the client is gone (http.disconnect). Returns what the app sent."""
    events = list(body_events)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if events:
            return events.pop(0)
        if hang:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 9095),
        "headers": headers,
    }
    await app(scope, receive, send)
    return sent


def status_of(sent: list[dict[str, Any]]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))
