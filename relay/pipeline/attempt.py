"""One attempt's pieces that need no dispatcher: the message read back from a job, what
the attempt keeps of what it sent, and how long a throttled destination waits.

relay.pipeline.dispatch runs the attempt (limiter, send, timeout, record); these are the
parts it calls, kept apart so the dispatcher's module is about scheduling.
"""

from __future__ import annotations

from typing import Any

from relay.channels.base import Message, Notifier
from relay.core.alerts import notification_in_chunks
from relay.core.digests import DigestMessage, digest_of_payload
from relay.core.errors import RetryableError
from relay.core.jobs import Job, bound_sent
from relay.core.secrets import redact
from relay.pipeline.ratelimit import DeliveryPace

#: Sent text longer than this is redacted in the CPU worker thread rather than on the loop.
REDACT_OFF_LOOP_CHARS = 32 * 1024

#: A job with more alerts (or digest entries) than this is read and rendered in the CPU
#: worker thread; a smaller one on the loop (a few milliseconds).
OFF_LOOP_ITEMS = 100


def message_of(job: Job, attempt: int, pace: DeliveryPace) -> Message | DigestMessage:
    """The job's payload read back into what a notifier sends (10,000 alerts take a
    while to validate: the dispatcher calls this in a worker thread)."""
    digest = digest_of_payload(job.payload)
    if digest is not None:
        return DigestMessage(
            job_id=job.id, digest=digest, integration=job.integration, attempt=attempt, pace=pace
        )
    return Message(
        job_id=job.id,
        notification=notification_in_chunks(job.payload),
        integration=job.integration,
        attempt=attempt,
        pace=pace,
    )


def is_big(payload: dict[str, Any]) -> bool:
    """Whether reading and rendering ``payload`` is worth the CPU worker thread."""
    alerts = payload.get("alerts")
    digest = payload.get("digest")
    entries = digest.get("entries") if isinstance(digest, dict) else None
    return (isinstance(alerts, list) and len(alerts) > OFF_LOOP_ITEMS) or (
        isinstance(entries, list) and len(entries) > OFF_LOOP_ITEMS
    )


def keep_sent(sent: list[str], secrets: list[str]) -> list[str]:
    """What an attempt keeps of the bodies it sent: secrets redacted first (a secret cut
    in half by the bound would no longer be recognised), then bounded in size."""
    return bound_sent([redact(part, secrets) for part in sent])


def throttle_wait(notifier: Notifier, error: RetryableError) -> float:
    """How long a throttled destination waits: what the vendor said, else the channel's
    block time, else its longest window."""
    if error.retry_after is not None:
        return error.retry_after
    if notifier.throttle_block is not None:
        return notifier.throttle_block
    return max((rate.per for rate in notifier.rate_limits), default=0.0)
