"""Delivery errors. The exception type says whether to retry; retrying lives in dispatch."""

from __future__ import annotations


class DeliveryError(Exception):
    """A failed delivery attempt.

    ``reason`` is a short, bounded token used as a metric label (``http_503``,
    ``timeout``, ``errcode_45009``); ``message`` is the downstream's own words with
    secrets already redacted. ``sent`` is what this attempt transmitted, the failing body
    included, exactly as sent (like ``Delivery.sent``): the delivery log keeps it, so a
    dead notification's page shows what the destination refused.
    """

    retryable: bool = False

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message or reason
        self.sent: list[str] = []

    def with_sent(self, sent: list[str]) -> DeliveryError:
        """This error, carrying ``sent`` (see the class docstring); for ``raise``."""
        self.sent = sent
        return self


class RetryableError(DeliveryError):
    """Temporary: 5xx, 408, 429, timeouts, connection errors, vendor 'busy' codes."""

    retryable = True

    def __init__(
        self,
        reason: str,
        message: str = "",
        retry_after: float | None = None,
        *,
        throttled: bool = False,
    ) -> None:
        super().__init__(reason, message)
        self.retry_after = retry_after
        # The destination said "too many messages" (HTTP 429, DingTalk 130101, WeCom
        # 45009): the dispatcher holds every message to it, not only this one.
        self.throttled = throttled


class PermanentError(DeliveryError):
    """Final: other 4xx, bad credentials, invalid key, SMTP 5xx. Dead-lettered at once."""


class StoreUnavailable(Exception):
    """The store cannot be reached or cannot commit; ingest answers 503."""


class ConfigError(Exception):
    """A configuration problem; ``problems`` holds one 'path: problem' line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import time
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
