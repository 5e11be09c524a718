"""Durations that cannot work are refused at load, naming the key: each duration key
has a range (docs/configuration.md lists them), and no duration is NaN, infinite,
negative or longer than 100 years."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.config import parse_config
from relay.core.durations import LONGEST, parse_duration
from relay.core.errors import ConfigError

PROPERTY = settings(derandomize=True, max_examples=400, deadline=None)

#: key path -> (least, most) seconds, as docs/configuration.md lists them.
RANGES: dict[tuple[str, ...], tuple[float, float]] = {
    ("server", "read_timeout"): (0.001, 3600),
    ("server", "keepalive_timeout"): (0.001, 3600),
    ("storage", "retention"): (60, 3650 * 86400),
    ("storage", "group_retention"): (60, 3650 * 86400),
    ("delivery", "timeout"): (0.001, 600),
    ("delivery", "retry_for"): (0, 30 * 86400),
    ("delivery", "backoff_initial"): (0.001, 3600),
    ("delivery", "backoff_max"): (0.001, 86400),
    ("delivery", "lease"): (1, 86400),
    ("route", "group_wait"): (0, 7 * 86400),
    ("route", "group_interval"): (0.001, 30 * 86400),
    ("route", "repeat_interval"): (0.001, 365 * 86400),
    ("alertmanager", "timeout"): (0.001, 600),
}


def config_with(path: tuple[str, ...], value: Any) -> str:
    data: dict[str, Any] = {
        "route": {"receiver": "log"},
        "receivers": [{"name": "log", "log_configs": [{}]}],
    }
    if path[0] == "alertmanager":
        data["alertmanager"] = {"url": "http://127.0.0.1:9093"}
    data.setdefault(path[0], {})[path[1]] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (float("nan"), "finite number of seconds"),
        (0, "must be from 0.001s to 10m, got 0s"),
        (float("inf"), "finite number of seconds"),
        ("1y", "must be from 0.001s to 10m, got 365d"),
        ("99999999999999999999w", "longer than 100 years"),
        (-1, "cannot be negative"),
    ],
    ids=["nan", "zero", "inf", "1y", "huge", "negative"],
)
def test_a_delivery_timeout_that_cannot_work_is_named(value: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(config_with(("delivery", "timeout"), value), source="relay.yml", env={})
    (line,) = [p for p in raised.value.problems if "delivery.timeout" in p]
    assert problem in line, line


durations = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.builds(
        lambda n, unit: f"{n}{unit}",
        st.integers(min_value=0, max_value=10**22),
        st.sampled_from(["ms", "s", "m", "h", "d", "w", "y"]),
    ),
    st.text(max_size=12),
)
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@PROPERTY
@given(key=st.sampled_from(sorted(RANGES)), value=durations)
def test_every_duration_key_takes_what_is_in_its_range_and_names_itself_otherwise(
    key: tuple[str, ...], value: Any
) -> None:
    least, most = RANGES[key]
    place = ".".join(key)
    try:
        config = parse_config(config_with(key, value), source="relay.yml", env={})
    except ConfigError as exc:
        assert any(place in p for p in exc.problems), (place, exc.problems)
        return
    section = getattr(config, "global_" if key[0] == "global" else key[0])
    seconds = getattr(section, key[1])
    assert math.isfinite(seconds) and least <= seconds <= most <= LONGEST, (place, value, seconds)
    if isinstance(value, str) and value[:-1].isdigit() and value[-1:] in SECONDS:
        assert seconds == pytest.approx(int(value[:-1]) * SECONDS[value[-1]])


def test_the_ranges_docs_configuration_md_lists_are_the_ones_checked() -> None:
    """Each row of the durations table: its keys and its range, against RANGES (which the
    property above holds the config to)."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\s*\| (.+?) \| (\S+)(?: \([^)]*\))? to (\S+) \|$", docs, re.M)
    found: dict[tuple[str, ...], tuple[float, float]] = {}
    for keys, least, most in rows:
        for key in re.findall(r"`([a-z_.]+)`", keys):
            path = tuple(key.split(".")) if "." in key else ("route", key) if "route" in keys else None
            if path in RANGES:
                found[path] = (parse_duration(least), parse_duration(most))
    assert found == RANGES


@pytest.mark.parametrize(
    ("entry", "place"),
    [
        (
            {"webhook_configs": [{"url": "http://127.0.0.1:9/hook", "timeout": "1y"}]},
            "webhook_configs[0].timeout",
        ),
        (
            {
                "email_configs": [
                    {
                        "to": "a@example.test",
                        "from": "r@example.test",
                        "smarthost": "127.0.0.1:25",
                        "timeout": 0,
                    }
                ]
            },
            "email_configs[0].timeout",
        ),
        (
            {"wecom_configs": [{"key": "k-123456", "storm": {"window": "2d"}}]},
            "wecom_configs[0].storm.window",
        ),
    ],
    ids=["webhook timeout", "email timeout", "storm window"],
)
def test_a_channel_entrys_duration_out_of_range_is_named(entry: dict[str, Any], place: str) -> None:
    data = {"route": {"receiver": "r"}, "receivers": [{"name": "r", **entry}]}
    with pytest.raises(ConfigError) as raised:
        parse_config(yaml.safe_dump(data), source="relay.yml", env={})
    assert any(place in p and "must be from" in p for p in raised.value.problems), raised.value.problems
