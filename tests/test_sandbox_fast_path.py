"""The sandbox's fast attribute path (relay.templating.sandbox.Sandbox: the remembered
safety of each (type, name), a plain dict's key without Python's getattr first) against
the slow path it replaces (jinja's own getattr and is_safe_attribute), over random
objects and names, and over every built-in template rendered from random notifications."""

from __future__ import annotations

import random
import types
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined

from bench.render import JinjaSandboxPath as SlowSandbox  # jinja's own attribute path
from relay.channels import CHANNELS, TEMPLATE_CATALOGUE, TEMPLATE_NAMES
from relay.config import parse_config
from relay.core.alerts import Alert, Notification
from relay.core.clock import FakeClock
from relay.core.text import LOCALES
from relay.templating import engine
from relay.templating.engine import Renderer, is_digest_template
from relay.templating.sandbox import SAFE_ATTRIBUTES_KEPT, Sandbox

NOW = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
PER_ALERT = frozenset(name for c in CHANNELS for name in c.per_alert)


class Slotted:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 1

    def method(self) -> int:
        return self.value


def generator() -> Iterator[int]:
    yield 1


def objects() -> list[Any]:
    """What templates meet (relay's models, dicts, lists, text, times) and what a hostile
    template reaches for (functions, methods, classes, frames of generators)."""
    alert = Alert.model_validate(
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "items": "a label named like a dict method"},
            "annotations": {"summary": "磁盘将满"},
            "startsAt": "2026-11-22T06:25:51Z",
        }
    )
    labels = {"alertname": "DiskFull", "severity": "critical", "keys": "k", "_x": "private", "__class__": "c"}
    holder = Slotted()  # the same type as Slotted() below, its value a str.format to wrap
    holder.value = "{0}".format  # type: ignore[assignment]
    return [
        holder,
        labels,
        {},
        OrderedDict(labels),
        defaultdict(str, labels),
        [1, 2, 3],
        (1, 2),
        {1, 2},
        frozenset({1}),
        "text 文本",
        b"bytes",
        42,
        3.5,
        None,
        NOW,
        timedelta(seconds=90),
        alert,
        alert.labels,
        Notification(receiver="r", group_key="{}", status="firing", alerts=[alert]),
        Slotted(),
        Slotted().method,
        generator,
        generator(),
        str,
        dict,
        types,
        len,
        "x".format,
        "{0}".format_map,
    ]


NAMES = [
    *sorted(dir(dict))[:40],
    "items",
    "keys",
    "values",
    "get",
    "pop",
    "clear",
    "update",
    "setdefault",
    "append",
    "extend",
    "add",
    "discard",
    "format",
    "format_map",
    "upper",
    "split",
    "mro",
    "__class__",
    "__globals__",
    "__code__",
    "__self__",
    "__func__",
    "_x",
    "_private",
    "gi_frame",
    "gi_code",
    "func_code",
    "alertname",
    "severity",
    "labels",
    "annotations",
    "status",
    "starts_at",
    "alerts",
    "firing",
    "value",
    "method",
    "year",
    "total_seconds",
    "missing",
    "path",
]


def outcome(env: Sandbox, lookup: str, obj: Any, name: str) -> tuple[Any, ...]:
    """What a lookup gave, comparable across two environments."""
    try:
        value = env.getattr(obj, name) if lookup == "attr" else env.getitem(obj, name)
    except SecurityError as exc:
        return ("refused", str(exc))
    if isinstance(value, Undefined):
        return ("undefined", type(value).__name__, value._undefined_name)
    if isinstance(value, types.FunctionType) and value.__name__ == "bounded":
        return ("wrapped str.format", value.__qualname__)
    if isinstance(value, types.MethodType | types.BuiltinMethodType):
        return ("method", id(value.__self__), value.__name__)
    return ("value", type(value), value)  # equal, not the same: dict["x"] is made anew


@pytest.mark.parametrize("seed", range(20))
def test_lookups_match_the_slow_path(seed: int) -> None:
    rng = random.Random(seed)
    fast, slow = Sandbox(), SlowSandbox()
    pool = objects()
    for _ in range(1500):
        obj, name = rng.choice(pool), rng.choice(NAMES)
        lookup = rng.choice(("attr", "attr", "item"))
        assert outcome(fast, lookup, obj, name) == outcome(slow, lookup, obj, name), (
            f"seed {seed}: {lookup} {name!r} of {type(obj).__name__}"
        )
    assert fast._safe_attributes, "the fast path was never taken"


def test_what_the_sandbox_remembers_is_bounded() -> None:
    fast = Sandbox()
    for i in range(SAFE_ATTRIBUTES_KEPT + 500):
        assert fast.is_safe_attribute(Slotted(), f"name{i}", None)
    assert len(fast._safe_attributes) == SAFE_ATTRIBUTES_KEPT
    assert not fast.is_safe_attribute(Slotted(), f"_name{SAFE_ATTRIBUTES_KEPT + 1}", None)


def config() -> Any:
    return parse_config(
        "global: {timezone: Asia/Shanghai, external_url: 'https://relay.example'}\n"
        "route: {receiver: default}\n"
        "receivers: [{name: default, log_configs: [{}]}]\n"
    )


def random_notification(rng: random.Random) -> Notification:
    alerts = []
    for i in range(rng.randint(1, 12)):
        status = rng.choice(("firing", "firing", "resolved"))
        labels = {"alertname": rng.choice(("DiskFull", "磁盘将满", "HighCPU")), "instance": f"node-{i}"}
        extra = ["severity", "items", "keys", "job", "team", "values", "update"]
        for key in rng.sample(extra, rng.randint(0, 4)):
            labels[key] = rng.choice(("critical", "warning", "info", "值", "x" * rng.randint(1, 40)))
        texts = ("磁盘 / 将满", "<b>html</b>", "a\nb", "")
        names = rng.sample(["summary", "description", "runbook_url", "get"], rng.randint(0, 3))
        annotations = {key: rng.choice(texts) for key in names}
        started = NOW - timedelta(seconds=rng.randint(1, 200_000))
        alerts.append(
            Alert.model_validate(
                {
                    "status": status,
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": started.isoformat(),
                    "endsAt": (NOW.isoformat() if status == "resolved" else "0001-01-01T00:00:00Z"),
                    "generatorURL": rng.choice(("", "http://prometheus:9090/graph?g0.expr=up")),
                }
            )
        )
    return Notification(
        receiver="default",
        group_key='{}:{alertname="DiskFull"}',
        status="firing" if any(a.status == "firing" for a in alerts) else "resolved",
        alerts=alerts,
        group_labels={"alertname": alerts[0].labels["alertname"]},
        common_labels={"alertname": alerts[0].labels["alertname"]},
        external_url=rng.choice(("", "http://alertmanager:9093")),
        truncated_alerts=rng.choice((0, 0, 3)),
    )


def test_every_builtin_template_renders_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = Renderer(config(), TEMPLATE_CATALOGUE, clock=FakeClock(NOW.timestamp()))
    monkeypatch.setattr(engine, "Sandbox", SlowSandbox)
    slow = Renderer(config(), TEMPLATE_CATALOGUE, clock=FakeClock(NOW.timestamp()))
    rng = random.Random(7)
    rendered = 0
    for _ in range(12):
        n = random_notification(rng)
        for name in TEMPLATE_NAMES:
            if is_digest_template(name):
                continue
            extra: dict[str, Any] = {"alert": n.alerts[0]} if name in PER_ALERT else {}
            for locale in LOCALES:
                text = fast.render(name, n, locale=locale, **extra)
                assert text == slow.render(name, n, locale=locale, **extra), f"{name} {locale}"
                rendered += 1
    assert rendered > 500
