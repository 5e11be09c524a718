"""Alert.to_json and to_v4 build their dicts themselves: the same as pydantic's
model_dump, key order too, and so is what a job stores of a notification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.alerts import _ALERT_LIST, Alert, Notification, notification_payload


def dumped_by_pydantic(alert: Alert) -> dict[str, Any]:
    """What to_v4 returned before it built the dict itself."""
    data = alert.model_dump(mode="json")
    data["endsAt"] = (
        alert.endsAt.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if alert.endsAt
        else "0001-01-01T00:00:00Z"
    )
    return data


zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))])
times = st.builds(
    lambda when, zone: when.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    zones,
)
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
alerts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(words, words, max_size=4),
        "startsAt": times.map(lambda t: t.isoformat()),
    },
    optional={
        "annotations": st.dictionaries(words, words, max_size=3),
        "endsAt": st.one_of(st.just("0001-01-01T00:00:00Z"), times.map(lambda t: t.isoformat())),
        "generatorURL": words,
        "fingerprint": st.text("0123456789abcdef", min_size=16, max_size=16),
        "silenceURL": words,  # a key Alertmanager may add one day: kept
    },
)


@settings(derandomize=True, max_examples=1000, deadline=None)
@given(raw=alerts)
def test_to_v4_is_what_pydantic_dumps(raw: dict[str, Any]) -> None:
    alert = Alert.model_validate(raw)
    built, dumped = alert.to_v4(), dumped_by_pydantic(alert)
    assert built == dumped
    assert list(built) == list(dumped)


def stored_by_pydantic(notification: Notification) -> dict[str, Any]:
    """What notification_payload returned before the alerts were built directly."""
    payload = notification.model_dump(mode="json", exclude={"alerts"})
    payload["alerts"] = _ALERT_LIST.dump_python(notification.alerts, mode="json")
    return payload


@settings(derandomize=True, max_examples=300, deadline=None)
@given(raws=st.lists(alerts, max_size=5), receiver=words)
def test_a_stored_notification_is_what_pydantic_dumps(raws: list[dict[str, Any]], receiver: str) -> None:
    listed = [Alert.model_validate(raw) for raw in raws]
    for alert in listed:
        assert alert.to_json() == alert.model_dump(mode="json")
        assert list(alert.to_json()) == list(alert.model_dump(mode="json"))
    notification = Notification(receiver=receiver, group_key="{}:{}", status="firing", alerts=listed)
    assert notification_payload(notification) == stored_by_pydantic(notification)
