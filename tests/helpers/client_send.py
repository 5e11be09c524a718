"""An httpx auth that adds nothing: with it, relay.channels.http.call() takes httpx's
client send (auth flow, redirects, cookie jar), the path a request without credentials
skips. The transport comparison test and bench/transport.py measure against it."""

from __future__ import annotations

from collections.abc import Generator

import httpx


class PassThrough(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield request
