"""Access tokens of vendor APIs (WeCom's access_token, Feishu's tenant_access_token),
cached per app and shared by every notifier of the process, so a config reload keeps
valid tokens and concurrent sends fetch one once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenCache:
    """access_tokens by (api_url, corp_id, secret hash), valid until ``expires_in`` minus a
    margin. One lock per key (and event loop) so concurrent sends fetch once."""

    MARGIN = 300.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str, str], tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}

    def get(self, key: tuple[str, str, str]) -> str | None:
        entry = self._tokens.get(key)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        ttl = max(expires_in - self.MARGIN, expires_in / 2)
        self._tokens[key] = (token, self._clock() + ttl)

    def drop(self, key: tuple[str, str, str], token: str) -> None:
        """Forget ``token`` (unless another send already replaced it)."""
        if self._tokens.get(key, ("", 0.0))[0] == token:
            del self._tokens[key]

    def lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        entry = self._locks.get(key)
        if entry is None or entry[0] is not loop:
            entry = (loop, asyncio.Lock())
            self._locks[key] = entry
        return entry[1]

    async def fetch(self, key: tuple[str, str, str], ask: Callable[[], Awaitable[tuple[str, float]]]) -> str:
        """The cached token, or ``ask()``'s (token, lifetime in seconds): asked once
        however many sends need it at the same moment."""
        token = self.get(key)
        if token is not None:
            return token
        async with self.lock(key):
            token = self.get(key)
            if token is None:
                token, lifetime = await ask()
                self.put(key, token, lifetime)
            return token

    def clear(self) -> None:
        self._tokens.clear()
        self._locks.clear()
