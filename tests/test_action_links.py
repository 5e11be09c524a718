"""Action links (Acknowledge, Silence 1h, Silence 4h) in every message, and the page
they open: GET never acts (a link-preview robot fetching every URL changes nothing),
POST acts once and says what it did, and an expired, tampered or foreign link is
refused. Silencing in a real Alertmanager is in tests/e2e/test_action_links_serve.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from relay.core.actions import ACKNOWLEDGE, SILENCE, ActionToken, BadToken, sign, verify
from relay.core.alerts import Notification
from relay.core.clock import FakeClock
from tests.helpers.webhooks import alert, webhook

T0 = 1_800_000_000.0
CONFIG = """
global: {external_url: "https://relay.example.com", locale: en}
server: {auth: {bearer_token: "api-token-never-shown-0123456789"}}
alertmanager: {url: "http://127.0.0.1:9"}
route: {receiver: ops, repeat_interval: 4h}
receivers:
  - name: ops
    log_configs: [{}]
people:
  - {name: zhangsan, display_name: 张三}
"""
AUTH = {"Authorization": "Bearer api-token-never-shown-0123456789"}
LINK = re.compile(r"https://relay\.example\.com(/a/[A-Za-z0-9_-]+)")


async def links_of(relay: Any, name: str = "DiskFull") -> tuple[str, list[str]]:
    body = webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}')
    assert (await relay.post(body, headers=AUTH)).status_code == 200
    job = next(j for j in await relay.jobs() if name in j.group_key)
    notification = Notification.model_validate(job.payload)
    notification.for_job(job.id)
    text = relay.state.runtime.renderer.render("log.txt", notification, locale="en")
    return job.group_key, LINK.findall(text)


def test_a_token_is_refused_when_changed_forged_or_expired() -> None:
    key, other = b"k" * 32, b"o" * 32
    token = ActionToken("0123456789abcdef0123456789abcdef", SILENCE, 3600, int(T0) + 600)
    text = sign(key, token)
    assert len(text) == 47 and verify(key, text, T0) == token
    for i in range(len(text)):  # any one character changed
        flipped = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
        with pytest.raises(BadToken):
            verify(key, flipped, T0)
    with pytest.raises(BadToken, match="not made by this relay"):
        verify(other, text, T0)
    with pytest.raises(BadToken, match="expired"):
        verify(key, text, T0 + 600)
    acked = sign(key, ActionToken("0123456789abcdef0123456789abcdef", ACKNOWLEDGE, 0, int(T0) + 600))
    assert acked != text


async def test_every_message_carries_the_links_and_get_changes_nothing(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, paths = await links_of(relay)
        assert len(paths) == 3  # Acknowledge, Silence 1h, Silence 4h
        for path in paths:  # as a link-preview robot would
            page = await relay.client.get(path)
            assert page.status_code == 200, page.text
            assert "api-token-never-shown" not in page.text
            assert page.headers["cache-control"] == "no-store"
            assert page.headers["referrer-policy"] == "no-referrer"
        assert (await relay.client.head(paths[0])).status_code == 200
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is None
        assert [e["event"] for e in group.timeline] == ["firing", "notified"]
        first = await relay.client.get(paths[0])
        assert "Acknowledge" in first.text and "Who are you?" in first.text and "张三" in first.text


async def test_post_acknowledges_once_and_says_who(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, paths = await links_of(relay)
        missing = await relay.client.post(paths[0], data={})
        assert missing.status_code == 400 and "Say who you are first." in missing.text
        done = await relay.client.post(paths[0], data={"who": "zhangsan"})
        assert done.status_code == 200 and "Acknowledged by 张三" in done.text
        assert done.cookies.get("relay_who") == "zhangsan"
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is not None
        assert (group.ack["by"], group.ack["via"]) == ("zhangsan", "link")
        again = await relay.client.post(paths[0], data={"who_other": "Someone Else"})
        assert again.status_code == 200 and "Acknowledged by 张三" in again.text
        group = await relay.state.store.get_group(key)
        assert group is not None
        assert [e["event"] for e in group.timeline].count("acknowledged") == 1


async def test_a_silence_that_alertmanager_refuses_does_nothing_and_says_why(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        key, paths = await links_of(relay)
        answer = await relay.client.post(paths[1], data={"who": "zhangsan"})
        assert answer.status_code == 502 and "Alertmanager did not take the silence" in answer.text
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is None


async def test_expired_tampered_and_unknown_links_are_refused(relay_factory) -> None:
    clock = FakeClock(T0)
    async with relay_factory(CONFIG, clock=clock) as relay:
        key, paths = await links_of(relay)
        tampered = paths[0][:-3] + ("AAA" if not paths[0].endswith("AAA") else "BBB")
        assert (await relay.client.get(tampered)).status_code == 404
        assert (await relay.client.post(tampered, data={"who": "x"})).status_code == 404
        assert (await relay.client.get("/a/not-a-token")).status_code == 404
        clock.advance(8 * 86400)  # past actions.link_ttl (7d)
        expired = await relay.client.post(paths[0], data={"who": "zhangsan"})
        assert expired.status_code == 410 and "expired" in expired.text
        group = await relay.state.store.get_group(key)
        assert group is not None and group.ack is None


async def test_a_link_is_bound_to_its_own_group(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        first, paths = await links_of(relay, "DiskFull")
        second, _ = await links_of(relay, "CPUHot")
        await relay.client.post(paths[0], data={"who": "zhangsan"})
        acked = await relay.state.store.get_group(first)
        other = await relay.state.store.get_group(second)
        assert acked is not None and acked.ack is not None
        assert other is not None and other.ack is None


async def test_the_page_speaks_chinese(relay_factory) -> None:
    async with relay_factory(CONFIG, clock=FakeClock(T0)) as relay:
        _, paths = await links_of(relay)
        page = await relay.client.get(paths[2], headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert "静默 4h" in page.text and "你是谁？" in page.text


async def test_no_links_without_an_external_url_and_check_config_says_why(relay_factory) -> None:
    from relay.config import parse_config

    without = CONFIG.replace('external_url: "https://relay.example.com", ', "")
    async with relay_factory(without) as relay:
        _, paths = await links_of(relay)
        assert paths == []
    assert any(
        w.startswith("global.external_url: not set: messages carry no Acknowledge / Silence links")
        for w in parse_config(without, env={}).warnings
    )
    assert parse_config(CONFIG, env={}).warnings == []
