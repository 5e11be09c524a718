"""Retry: when a job that failed is tried again (exponential backoff with jitter, the
destination's Retry-After honoured) and when it is given up, counted from its creation or
from its last manual re-queue. The dispatcher asks; the store keeps the answer, so a
restart keeps the schedule."""

from __future__ import annotations

import tenacity

from relay.config.sections import DeliveryConfig
from relay.core.jobs import Job


class RetryPolicy:
    """Exponential backoff with jitter and a time limit, decided by tenacity."""

    def __init__(self, delivery: DeliveryConfig) -> None:
        self._retrying = tenacity.AsyncRetrying(
            wait=tenacity.wait_exponential_jitter(
                multiplier=delivery.backoff_initial,
                max=delivery.backoff_max,
                jitter=delivery.backoff_initial,
            ),
            stop=tenacity.stop_before_delay(delivery.retry_for),
        )

    def next_attempt(
        self, attempts_made: int, window_start: float, now: float, retry_after: float | None
    ) -> float | None:
        """When to try again, or None when the next try would fall past ``retry_for``."""
        state = tenacity.RetryCallState(self._retrying, fn=None, args=(), kwargs={})
        state.attempt_number = attempts_made
        state.start_time = window_start
        state.outcome_timestamp = now
        delay = self._retrying.wait(state)
        if retry_after is not None:
            delay = max(delay, retry_after)
        state.upcoming_sleep = delay
        if self._retrying.stop(state):
            return None
        return now + delay


def retry_window_start(job: Job) -> float:
    """A dead job re-queued by hand gets a fresh window from the moment of the request."""
    for attempt in reversed(job.attempts):
        if attempt.reason == "requeued":
            return attempt.at
    return job.created_at


def attempts_made(job: Job) -> int:
    """Attempts since the last manual re-queue (so backoff restarts small)."""
    count = 0
    for attempt in reversed(job.attempts):
        if attempt.reason == "requeued":
            break
        count += 1
    return count
