"""Properties of WeCom splitting (hypothesis): parts fit the byte limit in UTF-8, never
cut a character, carry every alert exactly once and in order, and are numbered (i/n).

Two levels: ``split_messages`` on its own with tight limits (many parts, two-digit part
numbers), and the robot notifier's ``render_parts`` with the built-in templates and
random alerts full of CJK text and emoji.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from relay.channels import make_renderer
from relay.channels.base import Message, NotifierContext
from relay.channels.wecom import CONTENT_LIMITS, WeComNotifier
from relay.config import parse_config
from relay.core.alerts import Alert, Notification
from relay.obs.metrics import Metrics
from relay.templating.split import nbytes, split_messages
from tests.channels.conftest import RefStore

# Alert ids are wrapped in ⟪ ⟫, which the random text never contains; U+FFFD (what a
# broken decode leaves) and lone surrogates (rejected at ingest) are left out as well.
_EXCLUDED = "⟪⟫\ufffd"
MULTI_BYTE = "磁盘空间不足告警服务器数据库延迟高🔥🚨👍🏽🇨🇳éßж€"
TEXT_CHARS = st.one_of(
    st.sampled_from(MULTI_BYTE),
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters=_EXCLUDED),
)


def texts(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(TEXT_CHARS, min_size=min_size, max_size=max_size)


def one_line(max_size: int) -> st.SearchStrategy[str]:
    return st.text(
        st.one_of(
            st.sampled_from(MULTI_BYTE),
            st.characters(
                codec="utf-8",
                exclude_categories=("Cs", "Cc", "Zl", "Zp"),
                exclude_characters=_EXCLUDED,
            ),
        ),
        max_size=max_size,
    )


def ids_in(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"⟪(\d+)⟫", text)]


def assert_valid_utf8_within(parts: list[str], limit: int) -> None:
    for part in parts:
        data = part.encode("utf-8")  # raises on anything that is not encodable
        assert len(data) <= limit, (len(data), limit)
        assert data.decode("utf-8") == part
        assert "\ufffd" not in part  # no character was cut in half


def assert_numbered(parts: list[str]) -> None:
    if len(parts) == 1:
        assert re.search(r" \(1/1\)$", parts[0].split("\n", 1)[0]) is None
        return
    for index, part in enumerate(parts, 1):
        assert part.split("\n", 1)[0].endswith(f" ({index}/{len(parts)})"), part[:200]


# -- split_messages on its own -------------------------------------------------------


@st.composite
def split_inputs(draw: st.DrawFn) -> tuple[str, list[str], str, int]:
    limit = draw(st.integers(min_value=48, max_value=1500))
    header = draw(one_line(40).filter(lambda h: nbytes(h) + 1 <= limit // 4)) + "\n"
    count = draw(st.integers(min_value=0, max_value=60))
    blocks = [f"⟪{i}⟫" + draw(texts(max_size=400)) + "\n" for i in range(count)]
    more = draw(st.integers(min_value=0, max_value=999))
    footer = f"… and {more} more\n" if more else ""
    return header, blocks, footer, limit


@settings(max_examples=300, deadline=None)
@given(split_inputs())
def test_split_messages_properties(case: tuple[str, list[str], str, int]) -> None:
    header, blocks, footer, limit = case

    parts = split_messages(header, blocks, footer, limit)

    assert parts
    event("split" if len(parts) > 1 else "one part")
    event(f"{len(str(len(parts)))}-digit part numbers")
    assert_valid_utf8_within(parts, limit)
    assert_numbered(parts)
    # Every block in exactly one part, in order.
    found = [i for part in parts for i in ids_in(part)]
    assert found == list(range(len(blocks)))
    # A block that fits beside the header (and the footer, and a two-digit "(i/n)") is
    # never cut: it is there verbatim.
    room = limit - nbytes(header) - nbytes(footer) - len(" (99/99)")
    for block in blocks:
        if nbytes(block) <= room:
            assert sum(block in part for part in parts) == 1
    if footer:
        assert parts[-1].endswith(footer)
        assert not any(footer in part for part in parts[:-1])
    for part in parts:  # every part starts with the header (its first line numbered)
        assert part.startswith(header.rstrip("\n"))


# -- the robot's render_parts with the built-in templates ----------------------------


@cache
def robot(msgtype: str, locale: str) -> WeComNotifier:
    """A notifier for rendering only (render_parts does no I/O, so no HTTP client)."""
    config = parse_config(
        "route: {receiver: oncall}\n"
        "receivers:\n"
        "  - name: oncall\n"
        f"    wecom_configs: [{{key: k-0000, msgtype: {msgtype}, locale: {locale}}}]\n",
        source="<test>",
        env={},
    )
    ctx = NotifierContext(
        locale=config.global_.locale,
        silences=config.alertmanager is not None,
        http=cast(Any, None),
        renderer=make_renderer(config, Metrics()),
        store=RefStore(),
        timeout=5.0,
    )
    (channel,) = [c for r in config.receivers for _, c in r.integrations()]
    notifier = channel.build(ctx)
    assert isinstance(notifier, WeComNotifier)
    return notifier


STARTS = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@st.composite
def notifications(draw: st.DrawFn) -> Notification:
    count = draw(st.integers(min_value=1, max_value=40))
    alerts = []
    for i in range(count):
        status = draw(st.sampled_from(["firing", "resolved"]))
        labels = {
            "alertname": f"⟪{i}⟫" + draw(one_line(30)),
            "severity": draw(st.sampled_from(["critical", "warning", "info", "磁盘"])),
            "instance": draw(one_line(40)),
        }
        annotations = {"summary": draw(texts(200)), "description": draw(texts(3000))}
        alerts.append(
            Alert.model_validate(
                {
                    "status": status,
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": STARTS.isoformat(),
                    "endsAt": "2024-05-01T12:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.local/graph?g0.expr=up",
                }
            )
        )
    group_labels = draw(
        st.dictionaries(st.sampled_from(["team", "cluster", "区域"]), one_line(40), max_size=2)
    )
    status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    return Notification.model_validate(
        {
            "receiver": "oncall",
            "group_key": "{}:{}",
            "status": status,
            "alerts": alerts,
            "truncatedAlerts": draw(st.integers(min_value=0, max_value=500)),
            "group_labels": group_labels,
            "external_url": "http://alertmanager.local:9093",
        }
    )


MORE = {"en": "and {n} more", "zh-CN": "另有 {n} 条"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=notifications(),
    msgtype=st.sampled_from(["markdown", "text"]),
    locale=st.sampled_from(["en", "zh-CN"]),
)
def test_robot_parts_properties(n: Notification, msgtype: str, locale: str) -> None:
    message = Message(job_id="job", notification=n, integration="oncall/wecom/0")

    bodies = robot(msgtype, locale).render_parts(message)

    assert all(b["msgtype"] == msgtype for b in bodies)
    parts = [str(b[msgtype]["content"]) for b in bodies]
    event("split" if len(parts) > 1 else "one part")
    event("an alert was cut" if any(p.endswith("…") for p in parts) else "nothing cut")
    assert_valid_utf8_within(parts, CONTENT_LIMITS[msgtype])
    assert_numbered(parts)
    found = [i for part in parts for i in ids_in(part)]
    assert found == list(range(len(n.alerts)))
    if n.truncated_alerts:
        more = MORE[locale].format(n=n.truncated_alerts)
        assert more in parts[-1]
        assert not any(more in part for part in parts[:-1])
