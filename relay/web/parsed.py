"""The webhooks parsed lately, by their bytes: the same body is not validated again.

An HA pair of Alertmanagers sends every notification twice, and each re-sends it every
``group_interval`` while nothing changes: most webhooks are byte for byte one seen a
moment ago. Parsing and validating one (a 5-alert body: ~40 µs) was the largest part of
answering it once the store skips unchanged groups. The parsed payload is shared by the
requests with that body: nothing downstream changes a payload or its alerts (each
transition builds its own state and notification from them), and tests/test_ingest.py
checks both the parse and the sharing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from relay.core.alerts import WebhookPayload

#: Bodies remembered (most recently seen kept), and the largest remembered: at most
#: 128 × 16 KiB of bodies, plus what they parse to.
PARSED_KEPT = 128
PARSED_MAX_BYTES = 16 * 1024


class ParsedWebhooks:
    def __init__(
        self,
        kept: int = PARSED_KEPT,
        max_bytes: int = PARSED_MAX_BYTES,
        parser: Callable[[bytes], WebhookPayload] = WebhookPayload.model_validate_json,
    ) -> None:
        self._parser = parser
        self._kept = kept
        self._max_bytes = max_bytes
        self._parsed: OrderedDict[bytes, WebhookPayload] = OrderedDict()

    def parse(self, body: bytes) -> WebhookPayload:
        """``parser(body)`` (``WebhookPayload.model_validate_json``); raises what it raises."""
        found = self._parsed.get(body)
        if found is not None:
            self._parsed.move_to_end(body)
            return found
        payload = self._parser(body)
        if len(body) <= self._max_bytes:
            self._parsed[body] = payload
            if len(self._parsed) > self._kept:
                self._parsed.popitem(last=False)
        return payload
