"""One rule for what an HTTP answer means: delivered, retryable (after when), or permanent.

Every HTTP channel posts through :func:`call`. The rules, the same for all of them:

- a transport error (cannot connect, reset, timeout) is retryable;
- 408, 425, 429 and every 5xx are retryable, after ``Retry-After`` when the answer has
  one (seconds or an HTTP date);
- any other 4xx is permanent: the request itself is wrong and sending it again cannot help;
- a 2xx is delivered unless the channel's vendor check finds an error code in the body
  (WeCom and DingTalk answer HTTP 200 with ``errcode`` != 0, Feishu with ``code`` != 0).

The vendor check sees every answer that has a JSON body, 2xx or not, so a vendor that
puts its own retry hint in an error body (Telegram's ``parameters.retry_after``) can say
so; returning None leaves the decision to the status rules above.
"""

from __future__ import annotations

import json as jsonlib
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

from relay.core.errors import DeliveryError, PermanentError, RetryableError, parse_retry_after
from relay.core.secrets import redact

HTTPX_LOG = logging.getLogger("httpx")

#: Statuses worth sending again besides 5xx: timeout, too early, too many requests.
RETRY_STATUSES = frozenset({408, 425, 429})
#: How much of an error answer is read (an error page may be huge) and quoted.
ERROR_BODY_BYTES = 8192
ERROR_BODY_CHARS = 200
#: How much of a successful answer is read: vendor answers are small JSON objects (a
#: Telegram message echoed back is the biggest, ~20 KB). The rest is never read: a
#: destination that answers 50 MB costs 64 KB.
ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """A response as the vendor check sees it."""

    status: int
    headers: httpx.Headers
    text: str
    data: Any  # the parsed JSON body, or None when it is not JSON

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))


#: ``check(answer)``: the error a vendor's answer means, or None when the status decides
#: (a 2xx is then delivered).
VendorCheck = Callable[[Answer], DeliveryError | None]


def status_error(answer: Answer, what: str) -> DeliveryError | None:
    """The error for a non-2xx status (None for 2xx), with the body quoted."""
    status = answer.status
    if 200 <= status < 300:
        return None
    words = " ".join(answer.text.split())[:ERROR_BODY_CHARS]
    try:
        phrase = " " + HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    message = f"{what}: HTTP {status}{phrase}" + (f": {words}" if words else "")
    if status in RETRY_STATUSES or status >= 500:
        return RetryableError(
            f"http_{status}", message, retry_after=answer.retry_after, throttled=status == 429
        )
    return PermanentError(f"http_{status}", message)


def transport_error(exc: httpx.TransportError, what: str, timeout: float) -> RetryableError:
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError("timeout", f"{what} did not answer in {timeout:g}s ({exc!r})")
    if isinstance(exc, httpx.ConnectError):
        return RetryableError("connect", f"cannot reach {what}: {exc!r}")
    return RetryableError("transport", f"{what}: {type(exc).__name__}: {exc}")


def error_redacted(error: DeliveryError, secrets: Sequence[str]) -> DeliveryError:
    message = redact(error.message, list(secrets))
    if isinstance(error, RetryableError):
        return RetryableError(error.reason, message, retry_after=error.retry_after, throttled=error.throttled)
    return PermanentError(error.reason, message)


async def call(
    http: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    what: str,
    request_timeout: float,
    secrets: Sequence[str],
    check: VendorCheck | None = None,
    check_text: bool = False,
    expect_json: bool = False,
    json: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | None = None,
) -> Answer:
    """Send one request; its Answer when delivered, else RetryableError / PermanentError
    with the vendor's words and every secret redacted.

    ``what`` names the destination in messages ("DingTalk robot"). ``expect_json``: a 2xx
    whose body is not a JSON object is retryable (a proxy's page, a truncated answer), not
    a success nobody can verify. ``check_text``: ``check`` sees answers that are not JSON
    too (Slack's incoming webhook answers errors as a bare word).
    """
    request = http.build_request(
        method,
        url,
        json=json,
        content=content,
        # Uncompressed: a bounded read of a compressed answer could still inflate to
        # gigabytes in one chunk.
        headers={"Accept-Encoding": "identity", **(headers or {})},
        timeout=request_timeout,
    )
    try:
        response = await _send(http, request, auth)
        try:
            limit = ANSWER_BYTES if response.is_success else ERROR_BODY_BYTES
            body = await _read_head(response, limit)
        finally:
            await response.aclose()
    except httpx.TransportError as exc:
        raise error_redacted(transport_error(exc, what, request_timeout), secrets) from None
    text = body.decode("utf-8", "replace")
    data: Any = None
    if text.strip().startswith(("{", "[")):
        try:
            data = jsonlib.loads(text)
        except ValueError:
            data = None
    answer = Answer(response.status_code, response.headers, text, data)
    error = check(answer) if check is not None and (data is not None or check_text) else None
    if error is None:
        error = status_error(answer, what)
    if error is None and expect_json and not isinstance(data, dict):
        words = " ".join(text.split())[:200]
        error = RetryableError("bad_response", f"{what}: HTTP {answer.status}, not a JSON object: {words}")
    if error is not None:
        raise error_redacted(error, secrets)
    return answer


async def _send(http: httpx.AsyncClient, request: httpx.Request, auth: httpx.Auth | None) -> httpx.Response:
    """The answer's head, its body left to read. A request without auth (none given, none
    in the URL) goes straight to the transport that serves its URL (relay's own, or a
    proxy's from the environment). The client's send adds only what relay does not use
    for a notification: auth flows, redirects (relay never follows one), and a cookie jar
    (a destination's cookies are not sent back to it). Measured with bench/transport.py:
    295 -> 203 µs of CPU per request. tests/test_http11_transport.py compares both ways."""
    credentials = auth is not None or http.auth is not None or bool(request.url.userinfo)  # user:pw@
    if not credentials:
        # httpx's own choice of transport for the URL (a proxy's mount, else relay's);
        # private, hence httpx < 1 in pyproject.toml.
        response = await http._transport_for_url(request.url).handle_async_request(request)
        response.request = request
        # The line httpx's client writes for each request, which operators read (secrets
        # redacted by relay's log filter).
        HTTPX_LOG.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
        return response
    return await http.send(request, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT, stream=True)


async def _read_head(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body, as sent; the rest is left unread (the
    connection is then closed, not reused). A body compressed although relay asked for
    none is inflated up to ``limit`` only."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    raw = b"".join(chunks)[:limit]
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
            return inflater.decompress(raw, limit)
        except zlib.error:
            return b""
    if encoding not in ("", "identity"):
        return b""  # br, zstd: not asked for, not read
    return raw


def errcode_check(
    field: str,
    message_field: str,
    *,
    retryable: dict[int, float | None],
    what: str,
    reason_prefix: str = "errcode",
    explain: dict[int, str] | None = None,
    throttled: frozenset[int] = frozenset(),
) -> VendorCheck:
    """A vendor check for APIs that answer ``{<field>: 0}`` on success and another code
    on failure (WeCom and DingTalk ``errcode``/``errmsg``, Feishu ``code``/``msg``).

    ``retryable`` maps the codes worth sending again to their wait (None: the retry
    policy's backoff); every other non-zero code is permanent. ``explain`` adds relay's
    hint to a code's message (what to change in the config). An answer without the field
    is left to the status rules (HTTP 4xx/5xx with a proxy's body). ``throttled``: the
    codes that mean "too many messages": the destination's limiter then holds every
    message to it, not only this one (see RetryableError.throttled).
    """

    def check(answer: Answer) -> DeliveryError | None:
        data = answer.data
        if not isinstance(data, dict) or field not in data:
            if 200 <= answer.status < 300:  # a proxy's JSON, or an API that changed
                return RetryableError("bad_response", f"{what}: no {field} in the answer")
            return None  # HTTP 4xx/5xx with someone else's body: the status rules decide
        code = data.get(field)
        if code == 0:
            return None
        if not isinstance(code, int):
            return RetryableError("bad_response", f"{what}: {field} is {code!r}, not a number")
        vendor_words = str(data.get(message_field) or "").strip()
        message = f"{what}: {field} {code}" + (f": {vendor_words}" if vendor_words else "")
        hint = (explain or {}).get(code)
        if hint:
            message += f" ({hint})"
        reason = f"{reason_prefix}_{code}"
        if code in retryable:
            return RetryableError(reason, message, retry_after=retryable[code], throttled=code in throttled)
        return PermanentError(reason, message)

    return check
