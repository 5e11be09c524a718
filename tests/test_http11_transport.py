"""relay's delivery client against httpx's own, over random exchanges with a raw server:
what each makes of every answer, and what the server received from each, must be the
same. relay's side is ``delivery_client()``: ``call()`` hands a request straight to
relay's HTTP/1.1 transport (relay.channels.http11); httpx's side goes through the
client's send (auth flow, redirects, cookie jar) and httpx's own transport.

The answers are random in everything a destination varies: status, framing (length,
chunked, until close), size across relay's 64 KB read bound, gzip, ``Retry-After``, a
``100 Continue`` first, writes in small fragments, a close before or in the middle of the
answer, an answer that never comes, garbage. Each seed is one sequence on one pair of
clients, so kept-alive connections carry over from one exchange to the next. Every seed
runs on asyncio's loop and on uvloop (which ``relay serve`` uses).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
import uvloop

from relay.channels.http import call
from relay.channels.http11 import cookieless, delivery_client
from relay.core.errors import DeliveryError
from tests.helpers.client_send import PassThrough
from tests.helpers.scripted_http import Received, Script, scripted_server

SEEDS = range(16)
EXCHANGES = 18
#: An answer that never comes is waited for this long; every other one gets ANSWER_TIMEOUT,
#: far beyond what a loaded machine (or the shifted clock's libfaketime) needs, so that
#: the only timeouts are those scripted.
SILENCE_TIMEOUT = 0.3
ANSWER_TIMEOUT = 10.0
RUNNERS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {"asyncio": asyncio.run, "uvloop": uvloop.run}
STATUSES = [200, 200, 200, 201, 202, 204, 301, 400, 403, 404, 408, 429, 500, 502, 503]
REASONS = {200: b"OK", 204: b"No Content", 404: b"Not Found", 429: b"Too Many Requests", 503: b"Unavailable"}


def random_body(rng: random.Random) -> tuple[bytes, list[bytes]]:
    """A body and the headers that describe it."""
    kind = rng.choice(["json", "json", "errcode", "text", "chinese", "empty", "big", "gzip"])
    if kind == "json":
        return json.dumps({"ok": True, "n": rng.randint(0, 9)}).encode(), [b"Content-Type: application/json"]
    if kind == "errcode":
        data = {"errcode": rng.choice([0, 45009, 310000]), "errmsg": "limit" if rng.random() < 0.5 else "ok"}
        return json.dumps(data).encode(), [b"Content-Type: application/json"]
    if kind == "text":
        return b"no_service <b>down</b> " * rng.randint(1, 20), [b"Content-Type: text/html"]
    if kind == "chinese":
        return "服务暂不可用，请稍后再试".encode() * rng.randint(1, 5), [
            b"Content-Type: text/plain; charset=utf-8"
        ]
    if kind == "big":  # across relay's 64 KB bound on a successful answer, and 8 KB on an error
        return b'{"a": "' + b"x" * rng.randint(6_000, 120_000) + b'"}', [b"Content-Type: application/json"]
    if kind == "gzip":
        data = json.dumps({"ok": True, "pad": "y" * rng.randint(0, 3000)}).encode()
        return gzip.compress(data), [b"Content-Type: application/json", b"Content-Encoding: gzip"]
    return b"", []


def chunked(body: bytes, rng: random.Random) -> bytes:
    out = b""
    while body:
        size = rng.randint(1, max(1, len(body) // 3 + 1))
        out += b"%x\r\n%s\r\n" % (size, body[:size])
        body = body[size:]
    return out + b"0\r\n\r\n"


def random_script(rng: random.Random) -> Script:
    status = rng.choice(STATUSES)
    body, headers = random_body(rng)
    framing = rng.choice(["length", "length", "chunked", "close"])
    close = framing == "close" or rng.random() < 0.15
    if status in (204,):
        body, headers, framing = b"", [], "length"
    if status in (429, 503) and rng.random() < 0.7:
        headers.append(rng.choice([b"Retry-After: 7", b"Retry-After: Wed, 21 Oct 2037 07:28:00 GMT"]))
    headers.append(b"X-Request-Id: " + str(rng.randint(0, 10**9)).encode())
    if rng.random() < 0.2:
        headers.append(b"Set-Cookie: s=" + str(rng.randint(0, 99)).encode())
    if framing == "length":
        headers.append(b"Content-Length: %d" % len(body))
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        body = chunked(body, rng)
    if close:
        headers.append(b"Connection: close")
    reason = REASONS.get(status, b"Whatever")
    head = b"HTTP/1.1 %d %s\r\n" % (status, reason) + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    if rng.random() < 0.1:
        head = b"HTTP/1.1 100 Continue\r\n\r\n" + head
    script = Script(head=head, body=body, close=close)
    if rng.random() < 0.3:
        script.fragments = [rng.randint(1, 40) for _ in range(rng.randint(1, 8))]
    roll = rng.random()
    if roll < 0.05:
        script.behaviour = "close_first"
    elif roll < 0.12:
        script.behaviour = "close_after"
        script.cut = rng.randint(1, len(head) + len(body) - 1)
    elif roll < 0.15:
        script.behaviour = "silent"
    elif roll < 0.18:
        script.head = rng.choice([b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTX/9.9 200 OK\r\n\r\n", b"garbage\r\n\r\n"])
        script.body, script.close = b"", True
    return script


def random_request(rng: random.Random, name: str) -> dict[str, Any]:
    headers = {"X-Script": name}
    if rng.random() < 0.3:
        headers["X-Signature"] = "t=1, v1=" + f"{rng.getrandbits(256):064x}"
    if rng.random() < 0.03:
        headers["X-Injected"] = "a\r\nInjected: 1"
    method = rng.choice(["POST", "POST", "POST", "GET", "PUT"])
    request: dict[str, Any] = {"method": method, "headers": headers}
    path = rng.choice(["/hook", "/cgi-bin/webhook/send?key=abc%20d&x=1", "/v2/hook/ä-ö", "/"])
    request["path"] = path
    if method != "GET":
        if rng.random() < 0.5:
            request["json"] = {"msgtype": "text", "text": {"content": "告警 " * rng.randint(0, 300)}}
        else:
            request["content"] = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000)))
    return request


def waited(retry_after: float | None) -> float | str | None:
    """A ``Retry-After`` date is seconds from now, which moves between two reads of it."""
    return "until a date" if retry_after is not None and retry_after > 86400 else retry_after


AGENT = {"User-Agent": "relay-differential"}


def outcome_of_call(result: Any) -> tuple[Any, ...]:
    if isinstance(result, DeliveryError):
        # A transport error's words are each library's own; its reason is what relay acts on.
        words = result.message if result.reason.startswith(("http_", "errcode", "bad_")) else ""
        return (
            "error",
            type(result).__name__,
            result.reason,
            waited(getattr(result, "retry_after", None)),
            words,
        )
    return ("ok", result.status, result.text, result.data, waited(result.retry_after))


async def exchange_via_call(client: httpx.AsyncClient, base: str, request: dict[str, Any]) -> tuple[Any, ...]:
    try:
        answer = await call(
            client,
            request["method"],
            base + request["path"],
            what="destination",
            request_timeout=request["timeout"],
            secrets=["abc"],
            json=request.get("json"),
            content=request.get("content"),
            headers=request["headers"],
        )
    except DeliveryError as exc:
        return outcome_of_call(exc)
    return outcome_of_call(answer)


async def exchange_read_whole(
    client: httpx.AsyncClient, base: str, request: dict[str, Any]
) -> tuple[Any, ...]:
    """httpx's own read of a whole answer (``client.request``), as token fetches do."""
    try:
        response = await client.request(
            request["method"],
            base + request["path"],
            json=request.get("json"),
            content=request.get("content"),
            headers=request["headers"],
            timeout=request["timeout"],
        )
    except httpx.TransportError as exc:
        return ("error", _family(exc))
    except httpx.DecodingError:
        return ("error", "decoding")
    headers = sorted((k.lower(), v) for k, v in response.headers.multi_items())
    return ("ok", response.status_code, response.content, headers)


def _family(exc: httpx.TransportError) -> str:
    for family in (httpx.TimeoutException, httpx.ConnectError, httpx.ProtocolError, httpx.NetworkError):
        if isinstance(exc, family):
            return family.__name__
    return type(exc).__name__


def received_view(records: list[Received]) -> list[tuple[Any, ...]]:
    return [
        (r.method, r.target, [(k.lower(), v) for k, v in r.headers if k.lower() != "x-script"], r.body)
        for r in records
    ]


async def run_sequence(seed: int) -> list[str]:
    rng = random.Random(seed)
    scripts: dict[str, Script] = {}
    plan = []
    for index in range(EXCHANGES):
        script = random_script(rng)
        request = random_request(rng, f"{seed}-{index}")
        request["timeout"] = SILENCE_TIMEOUT if script.behaviour == "silent" else ANSWER_TIMEOUT
        whole = rng.random() < 0.3
        for side in ("httpx", "relay"):
            scripts[f"{seed}-{index}-{side}"] = script
        plan.append((index, request, whole))
    problems: list[str] = []
    async with scripted_server(scripts) as server:
        base = f"http://127.0.0.1:{server.port}"
        clients = {
            # httpx all the way: the client's send (its auth flow, redirects, cookie
            # jar) over httpx's transport. The same cookie policy as relay's client.
            "httpx": httpx.AsyncClient(auth=PassThrough(), headers=AGENT, cookies=cookieless()),
            # relay's client: call() straight to relay's transport.
            "relay": delivery_client(timeout=ANSWER_TIMEOUT, user_agent=AGENT["User-Agent"]),
        }
        try:
            for index, request, whole in plan:
                seen: dict[str, tuple[Any, ...]] = {}
                for side, client in clients.items():
                    sided = dict(
                        request, headers=dict(request["headers"], **{"X-Script": f"{seed}-{index}-{side}"})
                    )
                    exchange = exchange_read_whole if whole else exchange_via_call
                    seen[side] = await exchange(client, base, sided)
                if seen["httpx"] != seen["relay"]:
                    problems.append(f"exchange {index} ({scripts[f'{seed}-{index}-httpx']}): {seen}")
                got = {
                    side: received_view(server.received.get(f"{seed}-{index}-{side}", [])) for side in clients
                }
                if got["httpx"] != got["relay"]:
                    problems.append(f"exchange {index}: the server received {got}")
        finally:
            for client in clients.values():
                await client.aclose()
    return problems


@pytest.mark.parametrize("loop", sorted(RUNNERS))
@pytest.mark.parametrize("seed", SEEDS)
def test_relay_transport_answers_as_httpx_does(seed: int, loop: str) -> None:
    problems = RUNNERS[loop](run_sequence(seed))
    assert not problems, "\n".join(problems)
