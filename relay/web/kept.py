"""The last webhooks relay received, for the console's playground (server.ui.keep_webhooks).

Ingest hands each accepted webhook to :class:`WebhookKeeper`, which holds it in memory
and writes what arrived to the store in one batch every ``FLUSH_EVERY`` seconds (and at
shutdown). A webhook thus costs ingest no store write of its own: Alertmanager's steady
re-sends change nothing in the store and are answered without a commit, and keeping a
copy of each must not add one. A crash loses at most the copies of the last seconds:
samples for the playground, not alerts (those were committed before the answer).
"""

from __future__ import annotations

import logging
from collections import deque

from relay.core.errors import StoreUnavailable
from relay.store.base import KeptWebhook
from relay.store.roles import WebhookArchive

logger = logging.getLogger("relay.kept")

#: How often the webhooks received since the last write go to the store, in seconds.
FLUSH_EVERY = 2.0


def within(webhooks: list[KeptWebhook], keep: int, keep_bytes: int) -> list[KeptWebhook]:
    """The newest of ``webhooks`` (newest first) within both bounds."""
    kept: list[KeptWebhook] = []
    total = 0
    for hook in webhooks[:keep]:
        total += len(hook.body.encode("utf-8"))
        if total > keep_bytes:
            break
        kept.append(hook)
    return kept


class WebhookKeeper:
    """Webhooks received but not yet written to the store, newest last."""

    def __init__(self) -> None:
        self._pending: deque[KeptWebhook] = deque()

    def add(self, webhook: KeptWebhook, keep: int, keep_bytes: int) -> None:
        if not keep or len(webhook.body.encode("utf-8")) > keep_bytes:
            return
        self._pending.append(webhook)
        while len(self._pending) > keep:  # older ones would be dropped by the store anyway
            self._pending.popleft()

    def pending(self) -> list[KeptWebhook]:
        """Not yet in the store, newest first."""
        return list(reversed(self._pending))

    async def flush(self, store: WebhookArchive, keep: int, keep_bytes: int) -> None:
        """Write what is pending in one store call; on failure it stays pending (bounded
        by ``keep``) and goes with the next flush."""
        batch = list(self._pending)
        if not batch:
            return
        try:
            await store.keep_webhooks(batch, keep, keep_bytes)
        except StoreUnavailable as exc:
            logger.warning("could not keep %d webhooks for the console: %s", len(batch), exc)
            return
        for _ in batch:
            self._pending.popleft()

    async def recent(self, store: WebhookArchive, keep: int, keep_bytes: int) -> list[KeptWebhook]:
        """Newest first: the pending ones, then the store's, within the bounds."""
        stored = await store.recent_webhooks() if keep else []
        pending = self.pending()
        ids = {hook.id for hook in pending}
        return within([*pending, *(h for h in stored if h.id not in ids)], keep, keep_bytes)
