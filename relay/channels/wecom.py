"""WeCom (企业微信): the group robot webhook and application messages.

Both take one JSON message of bounded size (UTF-8 bytes of ``content``). A notification
that does not fit is split on alert boundaries into parts marked ``(1/3)``, ``(2/3)``...
(see :func:`split_messages`); the parts of one job are sent in order, and how many went
through is kept in the store under ``wecom:<job id>``, so a retry resumes at the part
that failed instead of sending the earlier ones again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from relay.channels.base import ChannelConfig, Delivery, Message, Notifier, NotifierContext
from relay.channels.urls import url_secret_parts
from relay.channels.wecom_split import cut_bytes, nbytes, split_messages, split_rendered
from relay.errors import DeliveryError, PermanentError, RetryableError, parse_retry_after
from relay.models import Notification
from relay.secrets import redact

logger = logging.getLogger(__name__)

__all__ = [
    "WeComAppConfig", "WeComAppNotifier", "WeComConfig", "WeComNotifier", "split_messages",
]

WECOM_ROBOT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
WECOM_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"

#: Bytes of UTF-8 ``content`` WeCom accepts, per msgtype.
CONTENT_LIMITS: dict[str, int] = {"markdown": 4096, "text": 2048}
#: How long the delivered-part count of a split job is kept (past any retry window).
PROGRESS_TTL = 7 * 86400.0
#: errcode -> retry_after for the codes that mean "try again".
RETRYABLE_ERRCODES: dict[int, float | None] = {-1: None, 45009: 60.0}
#: access_token invalid (40014), missing (41001), expired (42001): refresh and resend once.
TOKEN_ERRCODES = frozenset({40014, 41001, 42001})

_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_MENTION_SPLIT = re.compile(r"[\s,;|]+")
_INVALID_KEYS = ("invaliduser", "invalidparty", "invalidtag")


class WeComConfig(ChannelConfig):
    """The group robot (群机器人)."""

    kind: ClassVar[str] = "wecom"
    secret_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "key")

    webhook_url: SecretStr | None = None
    key: SecretStr | None = None
    msgtype: Literal["markdown", "text"] = "markdown"
    mentioned_list: list[str] = Field(default_factory=list)
    mentioned_mobile_list: list[str] = Field(default_factory=list)
    mention_label: str | None = None
    rate_limit_per_minute: float = 20.0

    @field_validator("webhook_url")
    @classmethod
    def _absolute_url(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value() if value is not None else None
        if url is not None and not url.startswith(("https://", "http://")):
            # The value is a secret: the message describes it, never echoes it.
            raise ValueError(f"must be a full URL starting with https:// ({WECOM_ROBOT_URL}"
                             "?key=...)" if url else "is empty")
        return value

    @field_validator("key")
    @classmethod
    def _bare_key(cls, value: SecretStr | None) -> SecretStr | None:
        key = value.get_secret_value() if value is not None else None
        if key == "":
            raise ValueError("is empty")
        if key is None or ("://" not in key and "key=" not in key and "/" not in key):
            return value
        found = dict(parse_qsl(urlsplit(key).query)).get("key", "")
        # A key is a secret: name its length and, when long, its first characters only.
        shown = f", {found[:4]}..." if len(found) >= 16 else ""
        hint = (f"set key to the value after key= ({len(found)} characters{shown})"
                if found else "set key to the value after key= in the robot's URL")
        raise ValueError(f"is a whole URL, not a robot key: {hint}, or set webhook_url instead")

    @model_validator(mode="after")
    def _one_address(self) -> WeComConfig:
        if (self.webhook_url is None) == (self.key is None):
            raise ValueError("set exactly one of webhook_url or key")
        return self

    @property
    def url(self) -> str:
        if self.webhook_url is not None:
            return self.webhook_url.get_secret_value()
        assert self.key is not None
        return f"{WECOM_ROBOT_URL}?key={self.key.get_secret_value()}"

    def build(self, ctx: NotifierContext) -> Notifier:
        return WeComNotifier(self, ctx)


class WeComAppConfig(ChannelConfig):
    """Application messages (应用消息) through the corp API."""

    kind: ClassVar[str] = "wecom_app"
    secret_fields: ClassVar[tuple[str, ...]] = ("api_secret",)

    corp_id: str
    agent_id: int
    api_secret: SecretStr
    to_user: str | None = None
    to_party: str | None = None
    to_tag: str | None = None
    api_url: str = WECOM_API_BASE
    msgtype: Literal["markdown", "text"] = "markdown"
    rate_limit_per_minute: float = 30.0

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _recipients(self) -> WeComAppConfig:
        if not (self.to_user or self.to_party or self.to_tag):
            self.to_user = "@all"
        return self

    def build(self, ctx: NotifierContext) -> Notifier:
        return WeComAppNotifier(self, ctx)


# -- HTTP and errcodes ----------------------------------------------------------------


def errcode_error(errcode: int, errmsg: str) -> DeliveryError:
    """The error for a WeCom answer with ``errcode != 0`` (-1 busy and 45009 retry)."""
    reason = f"errcode_{errcode}"
    message = f"errcode {errcode}: {errmsg}" if errmsg else f"errcode {errcode}"
    if errcode in RETRYABLE_ERRCODES:
        return RetryableError(reason, message, retry_after=RETRYABLE_ERRCODES[errcode])
    return PermanentError(reason, message)


async def wecom_call(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: dict[str, Any] | None = None,
    request_timeout: float,
    secrets: Sequence[str],
) -> dict[str, Any]:
    """One WeCom API call: its JSON answer, or RetryableError / PermanentError for HTTP
    and transport failures. The errcode is left to the caller."""
    try:
        response = await http.request(method, url, json=json, timeout=request_timeout)
    except httpx.TimeoutException as exc:
        message = f"WeCom did not answer in {request_timeout:g}s: {exc!r}"
        raise RetryableError("timeout", redact(message, list(secrets))) from None
    except httpx.TransportError as exc:
        message = f"cannot reach WeCom: {exc!r}"
        raise RetryableError("connect", redact(message, list(secrets))) from None
    status = response.status_code
    if status >= 400:
        message = redact(f"HTTP {status}: {response.text[:500]}", list(secrets))
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableError("http_429", message, retry_after=retry_after)
        if status == 408 or status >= 500:
            raise RetryableError(f"http_{status}", message)
        raise PermanentError(f"http_{status}", message)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        message = redact(f"HTTP {status}, not a JSON object: {response.text[:200]}", list(secrets))
        raise RetryableError("bad_response", message)
    return data


# -- rendering and progress (shared by the robot and the application) -----------------


def render_split(
    ctx: NotifierContext, name: str, n: Notification, locale: str, limit: int
) -> list[str]:
    """The contents for template ``name``: one, or several parts each a complete
    rendering of the template for its share of the alerts (and "and N more" last).

    Only ``alerts`` and ``truncated_alerts`` change per part: ``firing``, ``resolved``
    and the rest describe the whole group, so every part's header counts all alerts."""

    def render(indices: Sequence[int], last: bool) -> str:
        return ctx.renderer.render(
            name, n, locale=locale, alerts=[n.alerts[i] for i in indices],
            truncated_alerts=n.truncated_alerts if last else 0,
        ).strip()

    return split_rendered(render, len(n.alerts), limit)


async def send_parts(
    ctx: NotifierContext, message: Message, bodies: list[dict[str, Any]], post: PostBody
) -> Delivery:
    """Send ``bodies`` in order, resuming after the parts an earlier attempt delivered."""
    key = f"wecom:{message.job_id}"
    total = len(bodies)
    start = 0
    if total > 1:
        try:
            ref = await ctx.store.get_ref(key)
        except Exception as exc:  # progress is an optimisation: a store hiccup costs a resend
            logger.warning("cannot read progress of job %s: %s", message.job_id, exc)
            ref = None
        if ref is not None and ref.get("total") == total:
            start = min(int(ref.get("sent", 0)), total)
    for index in range(start, total):
        try:
            await post(bodies[index])
        except DeliveryError as exc:
            if total == 1:
                raise
            where = f"part {index + 1}/{total}"
            if index > start:
                where += f" (parts {start + 1}-{index} delivered, a retry resumes here)"
            if isinstance(exc, RetryableError):
                message_ = f"{where}: {exc.message}"
                raise RetryableError(exc.reason, message_, exc.retry_after) from None
            raise PermanentError(exc.reason, f"{where}: {exc.message}") from None
        if total > 1:
            try:
                await ctx.store.set_ref(key, {"sent": index + 1, "total": total}, ttl=PROGRESS_TTL)
            except Exception as exc:
                logger.warning("cannot record progress of job %s: %s", message.job_id, exc)
    detail = f"{total} parts" if total > 1 else ""
    if start:
        detail += f", resumed at part {start + 1}"
    resumed_at = start + 1 if start else None
    return Delivery(detail=detail, data={"parts": total, "resumed_at": resumed_at})


PostBody = Callable[[dict[str, Any]], Awaitable[None]]


def _check(data: dict[str, Any], what: str, secrets: Sequence[str]) -> None:
    errcode = data.get("errcode")
    if errcode == 0:
        return
    if not isinstance(errcode, int):
        raise RetryableError("bad_response", f"{what}: no errcode in the answer")
    raise errcode_error(errcode, redact(f"{what}: {data.get('errmsg', '')}", list(secrets)))


# -- the group robot ------------------------------------------------------------------


class WeComNotifier(Notifier):
    """POSTs markdown or text to a group robot; mentions from config and alert labels."""

    def __init__(self, config: WeComConfig, ctx: NotifierContext) -> None:
        self._cfg = config
        self._ctx = ctx
        self._url = config.url
        self._secrets = [*config.secrets(), *url_secret_parts(self._url)]
        self._locale = config.locale or ctx.config.global_.locale
        digest = hashlib.sha256(self._url.encode()).hexdigest()[:16]
        self.rate_limit_key = f"wecom:{digest}"
        self.rate_limit_per_minute = config.rate_limit_per_minute

    def mentions(self, n: Notification) -> tuple[list[str], list[str]]:
        """(userids, mobiles) to mention: the static lists, then ``mention_label`` values
        of the firing alerts (all digits: a mobile; else a userid). "@all" is honoured only
        from config. Nobody is woken for a resolved alert: a notification with no firing
        alert mentions no one."""
        if not n.firing:
            return [], []
        userids = list(self._cfg.mentioned_list)
        mobiles = list(self._cfg.mentioned_mobile_list)
        if self._cfg.mention_label:
            for alert in n.firing:
                value = alert.labels.get(self._cfg.mention_label, "")
                for item in _MENTION_SPLIT.split(value.strip()):
                    if item.lstrip("+").isdigit():
                        mobiles.append(item)
                    elif _USERID.match(item) and item != "@all":
                        userids.append(item)
        return list(dict.fromkeys(userids)), list(dict.fromkeys(mobiles))

    def messages_for(self, message: Message) -> int:
        return len(self.rendered(message, self.render_parts))

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The JSON bodies ``send`` would POST, in order."""
        n = message.notification
        msgtype = self._cfg.msgtype
        userids, mobiles = self.mentions(n)
        limit = CONTENT_LIMITS[msgtype]
        if msgtype == "text":
            contents = render_split(self._ctx, "wecom.text", n, self._locale, limit)
            texts: list[dict[str, Any]] = [{"content": c} for c in contents]
            if userids:
                texts[0]["mentioned_list"] = userids
            if mobiles:
                texts[0]["mentioned_mobile_list"] = mobiles
            return [{"msgtype": "text", "text": text} for text in texts]
        # markdown ignores mentioned_*: userids go in the content as <@userid>; mobiles and
        # "@all" (which has no markdown form) need a text message after it to ping.
        named = [u for u in userids if u != "@all"]
        everyone = ["@all"] if len(named) < len(userids) else []
        suffix = "\n" + " ".join(f"<@{u}>" for u in named) if named else ""
        limit -= nbytes(suffix)
        contents = render_split(self._ctx, "wecom.markdown", n, self._locale, limit)
        contents[0] += suffix
        bodies = [{"msgtype": "markdown", "markdown": {"content": c}} for c in contents]
        if mobiles or everyone:
            ping: dict[str, Any] = {
                "content": cut_bytes(_plain_first_line(contents[0]), CONTENT_LIMITS["text"])
            }
            if everyone:
                ping["mentioned_list"] = everyone
            if mobiles:
                ping["mentioned_mobile_list"] = mobiles
            bodies.append({"msgtype": "text", "text": ping})
        return bodies

    async def send(self, message: Message) -> Delivery:
        return await send_parts(self._ctx, message, self.rendered(message, self.render_parts), self._post)

    async def _post(self, body: dict[str, Any]) -> None:
        data = await wecom_call(
            self._ctx.http, "POST", self._url, json=body,
            request_timeout=self._ctx.timeout, secrets=self._secrets,
        )
        _check(data, "robot", self._secrets)


def _plain_first_line(markdown: str) -> str:
    for line in markdown.splitlines():
        plain = re.sub(r"<[^>]*>|[*#>`]", "", line).strip()
        if plain:
            return plain
    return "alert"


# -- application messages -------------------------------------------------------------


class TokenCache:
    """access_tokens by (api_url, corp_id, secret hash), valid until ``expires_in`` minus a
    margin. One lock per key (and event loop) so concurrent sends fetch once."""

    MARGIN = 300.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str, str], tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}

    def get(self, key: tuple[str, str, str]) -> str | None:
        entry = self._tokens.get(key)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        ttl = max(expires_in - self.MARGIN, expires_in / 2)
        self._tokens[key] = (token, self._clock() + ttl)

    def drop(self, key: tuple[str, str, str], token: str) -> None:
        """Forget ``token`` (unless another send already replaced it)."""
        if self._tokens.get(key, ("", 0.0))[0] == token:
            del self._tokens[key]

    def lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        entry = self._locks.get(key)
        if entry is None or entry[0] is not loop:
            entry = (loop, asyncio.Lock())
            self._locks[key] = entry
        return entry[1]

    def clear(self) -> None:
        self._tokens.clear()
        self._locks.clear()


class WeComAppNotifier(Notifier):
    """Sends through ``message/send`` with a cached access_token; an invalid or expired
    token (40014, 41001, 42001) is dropped, refetched and the message resent once."""

    #: Shared by every notifier of the process, so a config reload keeps valid tokens.
    shared_tokens: ClassVar[TokenCache] = TokenCache()

    def __init__(
        self, config: WeComAppConfig, ctx: NotifierContext, tokens: TokenCache | None = None
    ) -> None:
        self._cfg = config
        self._ctx = ctx
        self._tokens = tokens if tokens is not None else WeComAppNotifier.shared_tokens
        secret = config.api_secret.get_secret_value()
        self._secrets = [secret, quote(secret, safe="")]
        self._key = (config.api_url, config.corp_id, hashlib.sha256(secret.encode()).hexdigest())
        self._locale = config.locale or ctx.config.global_.locale
        where = f"{config.api_url}|{config.corp_id}|{config.agent_id}"
        self.rate_limit_key = f"wecom_app:{hashlib.sha256(where.encode()).hexdigest()[:16]}"
        self.rate_limit_per_minute = config.rate_limit_per_minute

    def messages_for(self, message: Message) -> int:
        return len(self.rendered(message, self.render_parts))

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The JSON bodies ``send`` would POST to message/send, in order."""
        cfg = self._cfg
        msgtype = cfg.msgtype
        contents = render_split(
            self._ctx, f"wecom_app.{msgtype}", message.notification, self._locale,
            CONTENT_LIMITS[msgtype],
        )
        to = {"touser": cfg.to_user, "toparty": cfg.to_party, "totag": cfg.to_tag}
        recipients = {k: v for k, v in to.items() if v}
        return [
            {**recipients, "agentid": cfg.agent_id, "msgtype": msgtype, msgtype: {"content": c}}
            for c in contents
        ]

    async def send(self, message: Message) -> Delivery:
        return await send_parts(self._ctx, message, self.rendered(message, self.render_parts), self._post)

    async def _post(self, body: dict[str, Any]) -> None:
        token = await self._token()
        data = await self._message_send(token, body)
        if data.get("errcode") in TOKEN_ERRCODES:
            self._tokens.drop(self._key, token)
            token = await self._token()
            data = await self._message_send(token, body)
        _check(data, "message/send", [*self._secrets, token])
        invalid = [f"{k}={data[k]}" for k in _INVALID_KEYS if data.get(k)]
        if invalid:
            logger.warning(
                "WeCom app %s: some recipients are invalid: %s",
                self._cfg.agent_id, ", ".join(invalid),
            )

    async def _message_send(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._cfg.api_url}message/send?access_token={quote(token, safe='')}"
        return await wecom_call(
            self._ctx.http, "POST", url, json=body,
            request_timeout=self._ctx.timeout, secrets=[*self._secrets, token],
        )

    async def _token(self) -> str:
        token = self._tokens.get(self._key)
        if token is not None:
            return token
        async with self._tokens.lock(self._key):
            token = self._tokens.get(self._key)
            if token is not None:
                return token
            cfg = self._cfg
            url = (
                f"{cfg.api_url}gettoken?corpid={quote(cfg.corp_id, safe='')}"
                f"&corpsecret={quote(cfg.api_secret.get_secret_value(), safe='')}"
            )
            data = await wecom_call(
                self._ctx.http, "GET", url, request_timeout=self._ctx.timeout, secrets=self._secrets
            )
            _check(data, "gettoken", self._secrets)
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise RetryableError("bad_response", "gettoken: no access_token in the answer")
            expires_in = data.get("expires_in")
            if not isinstance(expires_in, int | float) or expires_in <= 0:
                expires_in = 7200
            self._tokens.put(self._key, token, float(expires_in))
            return token
