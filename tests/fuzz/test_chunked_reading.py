"""The chunked readers against the whole validation they stand in for, over the ingest
fuzzer's bodies: a big webhook read a chunk of alerts at a time (in the CPU worker
thread) must give the same payload, or the same errors, as reading it whole; a stored
job read back in chunks the same notification. Chunks of 2 alerts, so that every
generated body is split."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import relay.core.alerts as alerts_module
from relay.core.alerts import (
    Notification,
    WebhookPayload,
    notification_in_chunks,
    notification_payload,
    webhook_in_chunks,
)
from tests.fuzz.test_ingest_fuzz import encode, fuzz_settings, mutated_samples, raw_bodies, webhooks


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts_module, "VALIDATE_CHUNK", 2)


def errors_of(exc: ValidationError) -> list[dict[str, Any]]:
    """The errors as a client reads them (an error's ``ctx`` holds exception objects)."""
    return [
        {
            **error,
            "input": repr(error.get("input")),  # NaN is not equal to itself
            "ctx": {key: str(value) for key, value in error.get("ctx", {}).items()},
        }
        for error in exc.errors(include_url=False)
    ]


def read_whole(body: bytes) -> tuple[str, Any]:
    try:
        return "ok", WebhookPayload.model_validate_json(body).model_dump()
    except ValidationError as exc:
        return "error", errors_of(exc)


def read_chunked(body: bytes) -> tuple[str, Any]:
    try:
        return "ok", webhook_in_chunks(body).model_dump()
    except ValidationError as exc:
        return "error", errors_of(exc)


@fuzz_settings(600)
@given(
    body=st.one_of(
        webhooks().map(encode),
        mutated_samples().map(encode),
        raw_bodies(),
    )
)
def test_a_webhook_read_in_chunks_is_the_webhook_read_whole(body: bytes) -> None:
    assert read_chunked(body) == read_whole(body)


@fuzz_settings(300)
@given(body=webhooks())
def test_a_stored_notification_read_in_chunks_is_the_same(body: dict[str, Any]) -> None:
    try:
        payload = WebhookPayload.model_validate(body)
    except ValidationError:
        return
    notification = Notification(
        receiver=payload.receiver,
        group_key=payload.groupKey,
        status=payload.status,
        alerts=payload.alerts,
        truncated_alerts=payload.truncatedAlerts,
    )
    stored = notification_payload(notification)
    assert stored == notification.model_dump(mode="json")
    assert notification_in_chunks(stored) == Notification.model_validate(stored)
