"""The channel toolkit: the registry, the HTTP outcome rules, the generic splitter, the
part sender and per-destination limits, tested on their own (every channel relies on them).
"""

from __future__ import annotations

import ast
import json
import re
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

import relay.channels as registry
from relay.channels import make_renderer
from relay.channels.base import Message, NotifierContext
from relay.channels.http import call, errcode_check
from relay.channels.parts import send_parts
from relay.cli.commands import main
from relay.config import ReceiverConfig, parse_config
from relay.core.errors import PermanentError, RetryableError
from relay.core.rates import Rate
from relay.pipeline.preview import PREVIEW_JOB_ID
from relay.pipeline.ratelimit import DestinationLimiter, LimiterRegistry
from relay.templating.sample import sample_notification
from relay.templating.split import nbytes, nchars, split_rendered
from tests.channels.conftest import RefStore

URL = "https://vendor.example/send?token=s3cr3t-t0ken"
SECRET = "s3cr3t-t0ken"


# -- the registry ----------------------------------------------------------------------


def test_receiver_keys_are_exactly_the_registry() -> None:
    keys = {name for name in ReceiverConfig.model_fields if name.endswith("_configs")}
    assert keys == {channel.field for channel in registry.CHANNELS}
    assert set(ReceiverConfig.model_fields) == keys | {"name"}


def test_cli_channel_choices_are_the_registry() -> None:
    for command in ("render",):
        option = next(p for p in main.commands[command].params if p.name == "channel")
        assert list(option.type.choices) == list(registry.CHANNELS_BY_KIND)  # type: ignore[attr-defined]


def test_every_registered_template_ships_in_both_locales() -> None:
    root = Path(registry.__file__).parents[1] / "builtin_templates"
    if not root.exists():  # an editable checkout: templates/ at the top
        root = Path(registry.__file__).parents[2] / "templates"
    for channel in registry.CHANNELS:
        for name in channel.templates:
            for locale in ("en", "zh-CN"):
                assert (root / locale / f"{name}.j2").is_file(), (channel.kind, locale, name)


@pytest.mark.parametrize("kind", list(registry.CHANNELS_BY_KIND))
async def test_every_channel_previews_its_defaults(kind: str) -> None:
    channel = registry.CHANNELS_BY_KIND[kind]
    config = parse_config("route: {receiver: r}\nreceivers: [{name: r}]\n")
    settings_ = channel.config.model_validate(channel.preview_settings)
    async with httpx.AsyncClient() as http:
        ctx = NotifierContext(
            locale=config.global_.locale,
            silences=config.alertmanager is not None,
            http=http,
            renderer=make_renderer(config),
            store=RefStore(),
            timeout=5.0,
        )
        notifier = settings_.build(ctx)
        message = Message(PREVIEW_JOB_ID, sample_notification("r"), f"r/{kind}/0")
        preview = notifier.preview(message)
        await notifier.aclose()
    assert preview.text and preview.note.startswith(kind)
    assert preview.parts
    if preview.limit is not None:
        assert all(size <= preview.limit for size in preview.sizes)


def test_no_channel_is_special_cased_outside_its_module() -> None:
    """No module outside relay/channels/ (config, previews, the runtime, templating, the
    CLI, ...) names a channel class: what differs per channel comes from the registry."""
    channel_classes = {c.config.__name__ for c in registry.CHANNELS}
    channel_classes |= {name.replace("Config", "Notifier") for name in channel_classes}
    relay_dir = Path(registry.__file__).parents[1]
    # Slack's interactivity URL and Telegram's updates are the vendors' own callbacks,
    # served by the web layer.
    own = {
        relay_dir / "web" / name
        for name in (
            "slack_interactions.py",
            "telegram_updates.py",
            "wecom_callback.py",
            "feishu_callback.py",
            "twilio_callback.py",
        )
    }
    modules = [p for p in relay_dir.rglob("*.py") if relay_dir / "channels" not in p.parents and p not in own]
    assert len(modules) > 40
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        named |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not named & channel_classes, (module, named & channel_classes)


def test_every_http_channel_posts_through_the_outcome_rules() -> None:
    """Only relay/channels/http.py calls httpx: the others go through call(), so one set
    of rules decides delivered / retryable / permanent for all of them."""
    channels_dir = Path(registry.__file__).parent
    for path in channels_dir.glob("*.py"):
        if path.name == "http.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"stream", "request", "post", "get", "send"}:
                base = node.value
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                assert name not in {"http", "_http", "client"}, f"{path.name} calls httpx directly"


# -- the HTTP outcome rules ------------------------------------------------------------


def http_date(seconds: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


WECOM_LIKE = errcode_check(
    "errcode",
    "errmsg",
    retryable={45009: 60.0, -1: None},
    what="robot",
    throttled=frozenset({45009}),
    explain={93000: "check the key"},
)


@pytest.mark.parametrize(
    ("response", "outcome", "reason", "retry_after"),
    [
        (httpx.Response(200, json={"errcode": 0}), None, None, None),
        (httpx.Response(202, text=""), None, None, None),
        (
            httpx.Response(200, json={"errcode": 45009, "errmsg": "freq"}),
            RetryableError,
            "errcode_45009",
            60.0,
        ),
        (httpx.Response(200, json={"errcode": -1}), RetryableError, "errcode_-1", None),
        (
            httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid"}),
            PermanentError,
            "errcode_93000",
            None,
        ),
        (httpx.Response(200, json={"ok": True}), RetryableError, "bad_response", None),
        (httpx.Response(200, json={"errcode": "x"}), RetryableError, "bad_response", None),
        (httpx.Response(408), RetryableError, "http_408", None),
        (httpx.Response(425), RetryableError, "http_425", None),
        (httpx.Response(429, headers={"Retry-After": "17"}), RetryableError, "http_429", 17.0),
        (httpx.Response(500, text="boom"), RetryableError, "http_500", None),
        (httpx.Response(502, text="<html>bad gateway</html>"), RetryableError, "http_502", None),
        (httpx.Response(503, headers={"Retry-After": "5"}), RetryableError, "http_503", 5.0),
        (httpx.Response(400, text="bad"), PermanentError, "http_400", None),
        (httpx.Response(401), PermanentError, "http_401", None),
        (httpx.Response(404), PermanentError, "http_404", None),
        (httpx.Response(413), PermanentError, "http_413", None),
        (httpx.Response(500, json={"errcode": 45009}), RetryableError, "errcode_45009", 60.0),
    ],
    ids=lambda v: str(getattr(v, "status_code", v)),
)
async def test_outcome_table(
    response: httpx.Response,
    outcome: type[Exception] | None,
    reason: str | None,
    retry_after: float | None,
) -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        mock.post(URL).mock(return_value=response)
        if outcome is None:
            answer = await call(
                http,
                "POST",
                URL,
                what="robot",
                request_timeout=5,
                secrets=[SECRET],
                json={},
                check=WECOM_LIKE,
            )
            assert 200 <= answer.status < 300
            return
        with pytest.raises(outcome) as caught:
            await call(
                http,
                "POST",
                URL,
                what="robot",
                request_timeout=5,
                secrets=[SECRET],
                json={},
                check=WECOM_LIKE,
            )
    error = caught.value
    assert error.reason == reason  # type: ignore[attr-defined]
    assert getattr(error, "retry_after", None) == retry_after
    assert str(error).count("robot") >= 1


async def test_retry_after_as_an_http_date() -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        mock.post(URL).mock(return_value=httpx.Response(503, headers={"Retry-After": http_date(120)}))
        with pytest.raises(RetryableError) as caught:
            await call(http, "POST", URL, what="x", request_timeout=5, secrets=[])
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


async def test_only_throttle_answers_hold_the_destination() -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        route = mock.post(URL)
        for response, throttled in [
            (httpx.Response(429), True),
            (httpx.Response(200, json={"errcode": 45009}), True),
            (httpx.Response(200, json={"errcode": -1}), False),
            (httpx.Response(503), False),
        ]:
            route.mock(return_value=response)
            with pytest.raises(RetryableError) as caught:
                await call(http, "POST", URL, what="x", request_timeout=5, secrets=[], check=WECOM_LIKE)
            assert caught.value.throttled is throttled, response


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectError("refused"), "connect"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.RemoteProtocolError("reset"), "transport"),
    ],
)
async def test_transport_errors_are_retryable(exc: Exception, reason: str) -> None:
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        mock.post(URL).mock(side_effect=exc)
        with pytest.raises(RetryableError) as caught:
            await call(http, "POST", URL, what="robot", request_timeout=5, secrets=[SECRET])
    assert caught.value.reason == reason


class Endless(httpx.AsyncByteStream):
    """A body of ``size`` bytes that counts what the reader took of it."""

    def __init__(self, size: int, chunk: bytes) -> None:
        self.size = size
        self.chunk = chunk
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.taken < self.size:
            self.taken += len(self.chunk)
            yield self.chunk


@pytest.mark.parametrize("status", [200, 500])
async def test_an_answer_is_read_only_as_far_as_the_rules_need(status: int) -> None:
    """A 50 MB answer: 64 KB of a success are read, 8 KB of an error, never the rest."""
    body = Endless(50 * 1024 * 1024, b'{"errcode": 0, "pad": "' + b"x" * 16_000)
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        route = mock.post(URL).mock(return_value=httpx.Response(status, stream=body))
        with pytest.raises(RetryableError) as caught:
            await call(http, "POST", URL, what="robot", request_timeout=5, secrets=[], expect_json=True)
        assert route.calls.last.request.headers["Accept-Encoding"] == "identity"
    assert body.taken <= 64 * 1024 + len(body.chunk)
    assert len(caught.value.message) < 1000  # quoted in a few words, not the whole answer


async def test_a_compressed_answer_is_inflated_only_up_to_the_bound() -> None:
    bomb = zlib.compressobj(wbits=31)
    packed = bomb.compress(b"\0" * (64 * 1024 * 1024)) + bomb.flush()  # 64 MB of zeros, 64 KB packed
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        mock.post(URL).mock(
            return_value=httpx.Response(200, content=packed, headers={"Content-Encoding": "gzip"})
        )
        with pytest.raises(RetryableError) as caught:
            await call(http, "POST", URL, what="robot", request_timeout=5, secrets=[], expect_json=True)
    assert caught.value.reason == "bad_response"


async def test_secrets_are_redacted_from_every_message() -> None:
    echoed = f"you sent {URL} and token={SECRET}"
    async with respx.mock() as mock, httpx.AsyncClient() as http:
        route = mock.post(URL)
        for response in [
            httpx.Response(400, text=echoed),
            httpx.Response(500, text=echoed),
            httpx.Response(200, json={"errcode": 1, "errmsg": echoed}),
            httpx.Response(200, text=echoed),
        ]:
            route.mock(return_value=response)
            with pytest.raises((RetryableError, PermanentError)) as caught:
                await call(
                    http,
                    "POST",
                    URL,
                    what="robot",
                    request_timeout=5,
                    secrets=[SECRET],
                    check=WECOM_LIKE,
                    expect_json=True,
                )
            assert SECRET not in str(caught.value)
        route.mock(side_effect=httpx.ConnectError(f"cannot connect to {URL}"))
        with pytest.raises(RetryableError) as caught:
            await call(http, "POST", URL, what="robot", request_timeout=5, secrets=[SECRET])
        assert SECRET not in str(caught.value)


# -- the generic splitter ---------------------------------------------------------------

ALERT_TEXT = st.text(st.sampled_from("ab 磁盘🔥é<>&\n"), min_size=0, max_size=300)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(ALERT_TEXT, min_size=1, max_size=40), limit=st.integers(60, 900))
def test_character_limits_hold_as_the_vendor_counts(texts: list[str], limit: int) -> None:
    def render(indices: Sequence[int], last: bool) -> str:
        return "HEADER 告警\n" + "".join(f"⟪{i}⟫{texts[i]}\n" for i in indices)

    parts = split_rendered(render, len(texts), limit, measure=nchars)
    assert all(nchars(p) <= limit for p in parts)
    seen = [int(x) for p in parts for x in re.findall(r"⟪(\d+)⟫", p)]
    assert seen == sorted(set(seen))  # in order, each at most once (an oversized one is cut)
    whole = [i for i, t in enumerate(texts) if nchars(render([i], False)) + 8 <= limit]
    assert set(whole) <= set(seen)
    if len(parts) > 1:
        assert all(f"({k}/{len(parts)})" in p for k, p in enumerate(parts, 1))


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(ALERT_TEXT, min_size=1, max_size=60))
def test_structured_parts_split_by_json_bytes(texts: list[str]) -> None:
    """A card (a dict) split by the bytes of its JSON, marked in its title."""
    limit = 2000

    def render(indices: Sequence[int], last: bool) -> dict[str, Any]:
        return {"title": "告警", "sections": [{"id": i, "text": texts[i][:200]} for i in indices]}

    def size(card: dict[str, Any]) -> int:
        return nbytes(json.dumps(card, ensure_ascii=False))

    def cut(card: dict[str, Any], budget: int) -> dict[str, Any]:
        return {**card, "sections": [{**s, "text": s["text"][:10]} for s in card["sections"]]}

    def mark(card: dict[str, Any], index: int, total: int) -> dict[str, Any]:
        return {**card, "title": f"{card['title']} ({index}/{total})"}

    cards = split_rendered(render, len(texts), limit, measure=size, cut=cut, mark=mark)
    assert all(size(card) <= limit for card in cards)
    assert [s["id"] for card in cards for s in card["sections"]] == list(range(len(texts)))
    if len(cards) > 1:
        assert [c["title"] for c in cards] == [f"告警 ({k}/{len(cards)})" for k in range(1, len(cards) + 1)]


# -- the part sender -------------------------------------------------------------------


@asynccontextmanager
async def parts_context() -> AsyncIterator[NotifierContext]:
    """What send_parts needs of a notifier: a config, an HTTP client, a progress store."""
    config = parse_config("route: {receiver: r}\nreceivers: [{name: r}]\n")
    async with httpx.AsyncClient() as http:
        yield NotifierContext(
            locale=config.global_.locale,
            silences=config.alertmanager is not None,
            http=http,
            renderer=make_renderer(config),
            store=RefStore(),
            timeout=5.0,
        )


async def test_parts_resume_after_the_delivered_ones_and_name_the_failing_part() -> None:
    async with parts_context() as ctx:
        message = Message("job-1", sample_notification("r"), "r/x/0")
        posted: list[str] = []
        fail_at = {2}

        async def post(body: str) -> str:
            if len(posted) in fail_at:
                fail_at.clear()
                raise RetryableError("http_503", "busy")
            posted.append(body)
            return body.upper()

        with pytest.raises(RetryableError) as caught:
            await send_parts(ctx, message, ["a", "b", "c", "d"], post)
        assert str(caught.value).startswith("http_503: part 3/4 (parts 1-2 delivered")
        assert caught.value.sent == ["a", "b", "c"]  # this attempt's parts, the failing one too
        delivery = await send_parts(ctx, message, ["a", "b", "c", "d"], post)
    assert posted == ["a", "b", "c", "d"]  # nothing sent twice
    assert delivery.detail == "4 parts, resumed at part 3"
    assert delivery.sent == ["c", "d"]
    assert delivery.data["results"] == ["A", "B", "C", "D"]


async def test_a_failing_part_carries_what_its_attempt_sent() -> None:
    async with parts_context() as ctx:
        message = Message("job-2", sample_notification("r"), "r/x/0")
        answers = [
            None,
            PermanentError("http_400", "no"),  # part 1 ok, part 2 fails
            None,
            RetryableError("http_503", "busy"),  # resumed: 2 ok, 3 fails
            PermanentError("http_400", "no"),
        ]

        async def post(body: dict[str, Any]) -> None:
            answer = answers.pop(0)
            if answer is not None:
                raise answer

        bodies = [{"text": "one"}, {"text": "two"}, {"text": "three"}]
        with pytest.raises(PermanentError) as first:
            await send_parts(ctx, message, bodies, post)
        # Resumed at part 2: parts 2 and 3 this time, as posted (JSON).
        with pytest.raises(RetryableError) as second:
            await send_parts(ctx, message, bodies, post)
        with pytest.raises(PermanentError) as single:  # one part: the error as raised
            await send_parts(
                ctx, Message("job-3", sample_notification("r"), "r/x/0"), [{"text": "solo"}], post
            )
    assert first.value.sent == ['{"text":"one"}', '{"text":"two"}']
    assert second.value.sent == ['{"text":"two"}', '{"text":"three"}']
    assert single.value.sent == ['{"text":"solo"}']


# -- per-destination limits ------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_every_window_is_enforced() -> None:
    time = FakeTime()
    limiter = DestinationLimiter([Rate(5, 1.0), Rate(100, 60.0)], monotonic=time.monotonic, sleep=time.sleep)
    sent: list[float] = []
    for _ in range(130):
        await limiter.acquire()
        sent.append(time.now)
    for start in sent:
        assert sum(start <= t < start + 1.0 for t in sent) <= 5
        assert sum(start <= t < start + 60.0 for t in sent) <= 100
    assert sent[-1] >= 60.0  # the 101st waited for the minute


async def test_a_block_holds_every_message_to_the_destination() -> None:
    time = FakeTime()
    limiter = DestinationLimiter([Rate(20, 60.0)], monotonic=time.monotonic, sleep=time.sleep)
    await limiter.acquire()
    limiter.block(600.0)
    assert limiter.state()["blocked_for"] == 600.0
    await limiter.acquire()
    assert time.now == pytest.approx(600.0)
    assert limiter.state()["windows"] == [{"limit": 20, "per_seconds": 60.0, "used": 1}]


def test_limiters_are_shared_by_destination_key() -> None:
    limiters = LimiterRegistry()
    first = limiters.get("robot-a", (Rate(20, 60.0),))
    assert limiters.get("robot-a", (Rate(20, 60.0),)) is first
    assert limiters.get("robot-b", (Rate(20, 60.0),)) is not first
    assert limiters.state("robot-a") is not None and limiters.state("nobody") is None


def test_rate_per_minute() -> None:
    assert Rate.per_minute(20) == Rate(20, 60.0)
    assert Rate.per_minute(0.5) == Rate(1, 120.0)


def test_admits_counts_the_next_window_only() -> None:
    """What a storm is decided on: an idle 20-a-minute robot takes 20 in the next minute,
    not 40 (the 21st could only go when the minute has passed)."""
    time = FakeTime()
    limiter = DestinationLimiter([Rate(20, 60.0)], monotonic=time.monotonic, sleep=time.sleep)
    assert limiter.admits(60.0, 100) == 20
    assert limiter.admits(60.001, 100) == 40
    limiter.block(30.0)
    assert limiter.admits(60.0, 100) == 20
    assert limiter.admits(20.0, 100) == 0
