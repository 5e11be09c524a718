"""A group of 10,000 alerts: every splitting channel sends at most ``max_parts`` messages,
each within its vendor's limit; the last one counts the alerts not shown and links the
group's page; the header still counts the whole group; and the work done is linear in the
alerts shown, not in the group (counted in renderings, never timed).

The splitter's lazy sizing (an alert is measured only when a part reaches it) is a
shortcut: it is compared with the whole-group algorithm it replaced over random groups.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.channels import make_renderer
from relay.channels.base import MemoryRefs, Message
from relay.channels.email import EmailNotifier
from relay.channels.parts import PostingNotifier
from relay.config import parse_config
from relay.core.alerts import Alert, Notification
from relay.pipeline.runtime import notifier_context
from relay.templating.split import cut_bytes, mark_part, nbytes, split_rendered

TOKEN = "123456789:AAH" + "a" * 32
CONFIG = f"""
global: {{external_url: "https://relay.example.com/"}}
receivers:
  - name: storm
    wecom_configs: [{{webhook_url: "http://127.0.0.1:1/cgi-bin/webhook/send?key=k"}}]
    wecom_app_configs: [{{corp_id: ww1, api_secret: s, agent_id: 1, to_user: "@all",
                          api_url: "http://127.0.0.1:1"}}]
    dingtalk_configs: [{{webhook_url: "http://127.0.0.1:1/robot/send?access_token=t"}}]
    feishu_configs: [{{webhook_url: "http://127.0.0.1:1/open-apis/bot/v2/hook/x"}}]
    slack_configs: [{{api_url: "http://127.0.0.1:1/services/x"}}]
    msteams_configs: [{{webhook_url: "http://127.0.0.1:1/teams"}}]
    telegram_configs: [{{bot_token: "{TOKEN}", chat_id: "1", api_url: "http://127.0.0.1:1"}}]
    email_configs: [{{to: [a@example.com], from: r@example.com, smarthost: "127.0.0.1:1"}}]
route: {{receiver: storm}}
"""
GROUP_KEY = '{}:{alertname="DiskFull"}'
GROUP_URL = "https://relay.example.com/ui/group?key=%7B%7D%3A%7Balertname%3D%22DiskFull%22%7D"


def storm(count: int, truncated: int = 0) -> Notification:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    alerts = [
        Alert(
            status="firing",
            labels={"alertname": "DiskFull", "instance": f"host-{i}:9100", "severity": "critical"},
            annotations={
                "summary": f"磁盘 /data 将满 on host-{i}",
                "description": "剩余 3%，预计 2 小时内写满",
            },
            startsAt=start + timedelta(seconds=i),
            generatorURL="http://prometheus:9090/graph",
        )
        for i in range(count)
    ]
    return Notification(
        receiver="storm",
        group_key=GROUP_KEY,
        status="firing",
        alerts=alerts,
        group_labels={"alertname": "DiskFull"},
        common_labels={"alertname": "DiskFull"},
        truncated_alerts=truncated,
    )


def shown_hosts(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"host-(\d+):9100", text)]


def not_shown_count(text: str) -> int:
    found = re.findall(r"(?:and|另有) (\d+) (?:more|条)", text)
    assert found, text[-600:]
    return int(found[-1])


async def notifiers() -> dict[str, Any]:
    config = parse_config(CONFIG)
    renderer = make_renderer(config)
    http = httpx.AsyncClient()
    ctx = notifier_context(config, http=http, renderer=renderer, refs=MemoryRefs())
    return {iid.split("/")[1]: entry.build(ctx) for iid, entry in config.receivers[0].integrations()}


SPLITTING = ["wecom", "wecom_app", "dingtalk", "feishu", "slack", "msteams", "telegram"]


def texts_of(bodies: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(body, ensure_ascii=False) for body in bodies]


@pytest.fixture(params=["rendered", "timed_out"])
def rendering(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """As rendered, or with every template running out of time (a loaded machine, a slow
    user template): the last resort must still carry each part's alerts and count."""
    if request.param == "timed_out":
        import relay.templating.engine as engine
        from relay.templating.sandbox import TemplateTooCostly

        def too_slow(template: Any, context: dict[str, Any]) -> str:
            raise TemplateTooCostly("rendering took longer than 2s")

        monkeypatch.setattr(engine, "render_bounded", too_slow)
    return str(request.param)


@pytest.mark.parametrize("kind", SPLITTING)
async def test_a_storm_of_10000_alerts_is_at_most_max_parts_messages(kind: str, rendering: str) -> None:
    found = await notifiers()
    notifier = found[kind]
    message = Message(job_id="j" * 32, notification=storm(10_000), integration=f"storm/{kind}/0")
    if isinstance(notifier, PostingNotifier):
        bodies = notifier.render_parts(message)
        if notifier.limit is not None:
            assert all(notifier.body_size(body) <= notifier.limit for body in bodies)
    else:  # Slack: its posts are measured in characters and blocks by render_posts itself
        bodies = notifier.render_posts(message)
    assert 2 <= len(bodies) <= 10
    texts = texts_of(bodies)
    shown = [host for text in texts for host in shown_hosts(text)]
    # In order, no alert twice (an alert's host appears in its text once or more).
    assert list(dict.fromkeys(shown)) == sorted(set(shown))
    hidden = not_shown_count(texts[-1])
    assert len(set(shown)) + hidden == 10_000  # every alert is counted
    assert GROUP_URL in texts[-1] or GROUP_URL.replace("&", "\\u0026") in texts[-1]
    assert "10000" in texts[0]  # the header counts the whole group


async def test_max_parts_is_the_entrys_own_setting() -> None:
    config = parse_config(
        CONFIG.replace('key=k"}]', 'key=k", max_parts: 3}]').replace(
            'chat_id: "1", api_url: "http://127.0.0.1:1"}]',
            'chat_id: "1", api_url: "http://127.0.0.1:1", max_parts: 1}]',
        )
    )
    renderer = make_renderer(config)
    async with httpx.AsyncClient() as http:
        ctx = notifier_context(config, http=http, renderer=renderer, refs=MemoryRefs())
        built = {
            iid.split("/")[1]: cast(PostingNotifier[Any], entry.build(ctx))
            for iid, entry in config.receivers[0].integrations()
        }
        message = Message(job_id="j" * 32, notification=storm(2_000), integration="storm/wecom/0")
        assert len(built["wecom"].render_parts(message)) == 3
        one = built["telegram"].render_parts(message)
        assert len(one) == 1
        assert not_shown_count(one[0]["text"]) == 2_000 - len(set(shown_hosts(one[0]["text"])))


def test_max_parts_out_of_range_is_refused_with_its_place() -> None:
    from relay.config import InvalidConfig

    with pytest.raises(InvalidConfig) as caught:
        parse_config(CONFIG.replace('key=k"}]', 'key=k", max_parts: 0}]'))
    assert "receivers[0].wecom_configs[0].max_parts" in str(caught.value)


async def test_an_email_of_10000_alerts_stays_within_max_bytes() -> None:
    found = await notifiers()
    notifier = found["email"]
    assert isinstance(notifier, EmailNotifier)
    text, html = notifier.bodies(storm(10_000, truncated=5))
    assert nbytes(text) + nbytes(html) <= 262_144
    shown = set(shown_hosts(text))
    assert shown == set(shown_hosts(html))
    assert 50 < len(shown) < 10_000
    assert not_shown_count(text) == 10_005 - len(shown)  # Alertmanager's 5 are counted too
    assert GROUP_URL in text and GROUP_URL.replace("&", "&amp;") in html
    small_text, _ = notifier.bodies(storm(3))
    assert "not shown" not in small_text and "未显示" not in small_text


# -- the work is linear in what is shown --------------------------------------------------


def counting(render: Callable[[Sequence[int], int | None], str]) -> tuple[Callable[..., str], list[int]]:
    """``render`` that counts the alerts it was asked to render, across calls."""
    seen = [0]

    def wrapped(indices: Sequence[int], more: int | None) -> str:
        seen[0] += len(indices)
        return render(indices, more)

    return wrapped, seen


def block_render(blocks: Sequence[str]) -> Callable[[Sequence[int], int | None], str]:
    def render(indices: Sequence[int], more: int | None) -> str:
        footer = f"… and {more} more\n" if more else ""
        return "HEADER\n" + "".join(blocks[i] for i in indices) + footer

    return render


@pytest.mark.parametrize("count", [1_000, 10_000, 100_000])
def test_capped_splitting_renders_a_bounded_number_of_alerts(count: int) -> None:
    blocks = [f"⟪{i}⟫ disk full on host-{i}\n" for i in range(count)]
    render, seen = counting(block_render(blocks))
    parts = split_rendered(render, count, 4096, max_parts=10)
    assert len(parts) <= 10
    shown = sum(len(re.findall(r"⟪\d+⟫", p)) for p in parts)
    # Each shown alert is rendered alone once and in its part once; a few more at the
    # edges. Not a function of `count`.
    assert seen[0] <= 2 * shown + 40


# -- the lazy splitter against the whole-group algorithm it replaced ---------------------


def reference_split(render: Callable[[Sequence[int], int | None], str], count: int, limit: int) -> list[str]:
    """The splitter before the part cap: every alert measured up front (no cap)."""
    full = render(range(count), 0)
    if nbytes(full) <= limit:
        return [full]
    base = nbytes(render((), None))
    footer = max(0, nbytes(render((), 0)) - base)
    sizes = [max(0, nbytes(render((i,), None)) - base) for i in range(count)]
    width = 1
    while True:
        reserve = 2 * width + 4
        groups: list[list[int]] = [[]]
        used = base + reserve
        for index, size in enumerate(sizes):
            if groups[-1] and used + size > limit:
                groups.append([])
                used = base + reserve
            groups[-1].append(index)
            used += size
        if footer and groups[-1] and used + footer > limit:
            groups.append([])
        parts: list[str] = []
        for k, group in enumerate(groups):
            parts += _reference_fit(render, group, k == len(groups) - 1, limit - reserve)
        if len(str(len(parts))) <= width:
            break
        width = len(str(len(parts)))
    if len(parts) == 1:
        return parts
    return [mark_part(part, i, len(parts)) for i, part in enumerate(parts, 1)]


def _reference_fit(
    render: Callable[[Sequence[int], int | None], str], group: list[int], last: bool, budget: int
) -> list[str]:
    more = 0 if last else None
    part = render(group, more)
    if nbytes(part) <= budget:
        return [part]
    if len(group) > 1:
        mid = len(group) // 2
        return _reference_fit(render, group[:mid], False, budget) + _reference_fit(
            render, group[mid:], last, budget
        )
    if last and group and render([], 0) != render([], None):
        return _reference_fit(render, group, False, budget) + _reference_fit(render, [], True, budget)
    return [cut_bytes(part, budget)]


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(st.text(st.sampled_from("ab 磁盘🔥\n"), max_size=120), min_size=0, max_size=140),
    limit=st.integers(60, 1500),
    footer=st.sampled_from(["", "… and the rest\n"]),
)
def test_lazy_splitting_matches_the_whole_group_algorithm(blocks: list[str], limit: int, footer: str) -> None:
    def render(indices: Sequence[int], more: int | None) -> str:
        return (
            "HEADER 告警\n"
            + "".join(f"⟪{i}⟫{blocks[i]}\n" for i in indices)
            + (footer if more is not None else "")
        )

    assert split_rendered(render, len(blocks), limit) == reference_split(render, len(blocks), limit)


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(st.text(st.sampled_from("ab 磁盘🔥\n"), max_size=200), min_size=0, max_size=200),
    limit=st.integers(80, 1500),
    max_parts=st.integers(1, 12),
)
def test_capped_parts_count_every_alert(blocks: list[str], limit: int, max_parts: int) -> None:
    def render(indices: Sequence[int], more: int | None) -> str:
        tail = f"+{more}\n" if more else ""
        return "HEADER\n" + "".join(f"⟪{i}⟫{blocks[i]}\n" for i in indices) + tail

    parts = split_rendered(render, len(blocks), limit, max_parts=max_parts)
    assert 1 <= len(parts) <= max_parts
    assert all(nbytes(p) <= limit for p in parts)
    shown = [int(m) for p in parts for m in re.findall(r"⟪(\d+)⟫", p)]
    assert shown == list(range(len(shown)))  # in order, from the first, none twice
    more = re.findall(r"\+(\d+)\n", parts[-1])
    hidden = int(more[-1]) if more else 0
    assert len(shown) + hidden == len(blocks)
