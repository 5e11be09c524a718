"""Hypothesis fuzzing of POST /api/v1/alerts/webhook, in process (see conftest.FuzzRelay).

Three families, 10,000 requests in all, derandomized so CI repeats the same cases:
captured Alertmanager webhooks with mutations, webhooks generated field by field, and
raw bodies, headers and paths.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import MAX_BODY, TOKEN, FuzzRelay

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED = Path("/work/shared/samples")
SAMPLES = [
    json.loads(p.read_text(encoding="utf-8"))
    for d in (FIXTURES, SHARED)
    if d.is_dir()
    for p in sorted(d.glob("*.json"))
]


def fuzz_settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


# -- values -----------------------------------------------------------------------------

HUGE_INTS = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**40, -(10**400)]
ODD_DATES = [
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-30T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00-14:00",
    "0000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-22T06:25:51.820407Z",
    "2026-11-22T06:25:51+14:00",
    "2026-11-22T06:25:51-12:00",
    "2026-11-22T06:25:51",
    "2026-11-22",
    "2026-11-22T06:25:51.123456789Z",
    "2026-11-22T25:00:00Z",
    "",
    "now",
    "1970-01-01T00:00:00Z",
    "2026-11-22T06:25:51+23:59",
]
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\ud800",
            "\udfff",
            "🔥" * 10,
            "中文告警",
            "\u202e",
            "{{ 7*7 }}",
            "{% for x in range(9) %}x{% endfor %}",
            "<script>",
            "*_`~",
            "\r\n",
            "x" * 2000,
        ]
    ),
)
floats = st.floats(allow_nan=True, allow_infinity=True)
integers = st.one_of(st.integers(), st.sampled_from(HUGE_INTS))
scalars = st.one_of(st.none(), st.booleans(), integers, floats, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def dates(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.sampled_from(ODD_DATES))
    if choice == 1:
        minutes = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
        when = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)))
        return when.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()
    if choice == 2:
        return draw(st.one_of(integers, floats))  # pydantic reads numbers as unix times
    return draw(json_values)


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


# -- generated webhooks -------------------------------------------------------------------

label_maps = st.dictionaries(texts, texts, max_size=5)


@st.composite
def alerts(draw: st.DrawFn) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": draw(st.sampled_from(["firing", "resolved", "pending", ""])),
        "labels": {"alertname": draw(texts), **draw(label_maps)},
        "annotations": draw(label_maps),
        "startsAt": draw(dates()),
        "endsAt": draw(dates()),
        "generatorURL": draw(texts),
        "fingerprint": draw(st.one_of(st.just(""), texts)),
    }
    for key in draw(st.lists(texts, max_size=2)):
        alert[key] = draw(st.one_of(json_values, st.integers(1, 60).map(deep)))
    for key in draw(st.lists(st.sampled_from(sorted(alert)), max_size=2)):
        alert.pop(key, None)
    return alert


@st.composite
def webhooks(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(st.lists(alerts(), max_size=5))
    body: dict[str, Any] = {
        "version": draw(st.sampled_from(["4", "4", "4", "3", 4])),
        "groupKey": draw(texts),
        "truncatedAlerts": draw(st.one_of(st.integers(0, 100), integers)),
        "receiver": draw(texts),
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "alerts": items,
        "groupLabels": draw(label_maps),
        "commonLabels": draw(label_maps),
        "commonAnnotations": draw(label_maps),
        "externalURL": draw(texts),
    }
    for key in draw(st.lists(texts, max_size=2)):
        body.setdefault(key, draw(json_values))
    return body


# -- mutations of captured webhooks ---------------------------------------------------------


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths(value, (*prefix, index))
    return out


@st.composite
def mutated_samples(draw: st.DrawFn) -> dict[str, Any]:
    body = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(body)))
        replacement = draw(
            st.one_of(
                json_values, dates(), integers, texts, st.integers(1, 80).map(deep), st.just("__delete__")
            )
        )
        if not where:
            continue
        parent: Any = body
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        if replacement == "__delete__":
            del parent[last]
        elif isinstance(parent, dict) and draw(st.booleans()):
            parent[draw(texts)] = replacement  # a new key next to it
        else:
            parent[last] = replacement
    return body


def encode(body: Any) -> bytes:
    # json.dumps writes NaN/Infinity literals and lone surrogates as \\ud800 escapes,
    # both of which a client could send.
    return json.dumps(body).encode()


@fuzz_settings(4000)
@given(body=mutated_samples())
def test_mutated_captured_webhooks(fuzz_relay: FuzzRelay, body: dict[str, Any]) -> None:
    fuzz_relay.send(encode(body))


@fuzz_settings(3000)
@given(body=webhooks())
def test_generated_webhooks(fuzz_relay: FuzzRelay, body: dict[str, Any]) -> None:
    fuzz_relay.send(encode(body))


# -- raw bodies, headers and paths ----------------------------------------------------------

GOOD = [encode(s) for s in SAMPLES]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/vnd.alertmanager+json",
    "text/plain",
    "",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json;;;",
    "application/jsonx",
    "application/+json",
    "\x7f",
]


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    good = draw(st.sampled_from(GOOD))
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return draw(st.binary(max_size=2000))
    if kind == 1:  # cut short anywhere
        return good[: draw(st.integers(0, len(good)))]
    if kind == 2:  # a byte flipped
        at = draw(st.integers(0, len(good) - 1))
        return good[:at] + bytes([draw(st.integers(0, 255))]) + good[at + 1 :]
    if kind == 3:  # non-JSON number literals and escapes where a value was
        literal = draw(
            st.sampled_from(
                [
                    b"NaN",
                    b"-Infinity",
                    b"Infinity",
                    b"1e999",
                    b"-0",
                    b"18446744073709551616",
                    b'"\\ud800"',
                    b'"\\u0000"',
                    b"0x10",
                    b"01",
                    b".5",
                    b"1.",
                    b"true",
                    b"null",
                ]
            )
        )
        return good.replace(b'"firing"', literal, 1)
    if kind == 4:  # nesting around or inside
        depth = draw(st.integers(1, 400))
        return b"[" * depth + good + b"]" * depth
    if kind == 5:  # bigger than max_body_bytes, or just under
        size = draw(st.sampled_from([MAX_BODY - len(good) - 20, MAX_BODY + 1, 3 * MAX_BODY]))
        padded = good[:-1] + b', "pad": "' + b"x" * max(0, size) + b'"}'
        return padded
    if kind == 6:  # other encodings
        return good.decode().encode(
            draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig"])), errors="replace"
        )
    return draw(st.sampled_from([b"", b"{}", b"[]", b"null", b"4", b'"4"', b"{" * 10, b"\x00" * 10]))


@st.composite
def header_sets(draw: st.DrawFn) -> dict[str, str]:
    headers = {}
    content_type = draw(st.sampled_from([*CONTENT_TYPES[:4]] * 3 + CONTENT_TYPES))
    if content_type or draw(st.booleans()):
        headers["content-type"] = content_type
    auth = draw(
        st.sampled_from(
            [f"Bearer {TOKEN}"] * 6
            + ["", "Bearer", "Bearer wrong", f"bearer {TOKEN}", "Basic Zm9vOmJhcg==", f"Bearer {TOKEN} x"]
        )
    )
    if auth:
        headers["authorization"] = auth
    if draw(st.booleans()):
        headers["content-encoding"] = draw(st.sampled_from(["gzip", "identity", "br"]))
    return headers


paths_to_post = st.one_of(
    st.just("/api/v1/alerts/webhook"),
    st.sampled_from(["team", "oncall", "nobody", ""]).map(lambda r: f"/api/v1/alerts/webhook/{r}"),
    texts.filter(bool).map(lambda r: "/api/v1/alerts/webhook/" + quote(r, safe="", errors="surrogatepass")),
)


@fuzz_settings(3000)
@given(body=raw_bodies(), headers=header_sets(), path=paths_to_post)
def test_raw_bodies_headers_and_paths(
    fuzz_relay: FuzzRelay, body: bytes, headers: dict[str, str], path: str
) -> None:
    fuzz_relay.send(body, headers=headers, path=path)
