"""WeCom (企业微信): the group robot webhook and application messages.

Both take one JSON message of bounded size (UTF-8 bytes of ``content``). A notification
that does not fit is split on alert boundaries into parts marked ``(1/3)``, ``(2/3)``...
(relay.channels.split); the parts are sent in order by relay.channels.parts, so a retry
resumes at the part that failed instead of sending the earlier ones again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, field_validator

from relay.channels.base import Channel, Message, NotifierContext, PartsConfig, destination_key
from relay.channels.http import VendorCheck, call, errcode_check
from relay.channels.mentions import mentions
from relay.channels.parts import PostingNotifier
from relay.channels.urls import WebhookOrTokenConfig, secret_url_check, url_secret_parts
from relay.core.alerts import Notification
from relay.core.rates import Rate
from relay.templating.split import cut_bytes, nbytes, split_messages, split_rendered

if TYPE_CHECKING:
    from relay.core.digests import Digest

logger = logging.getLogger("relay.channels.wecom")

__all__ = [
    "WeComConfig",
    "WeComNotifier",
    "split_messages",
]

WECOM_ROBOT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
WECOM_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"

#: Bytes of UTF-8 ``content`` WeCom accepts, per msgtype.
CONTENT_LIMITS: dict[str, int] = {"markdown": 4096, "text": 2048}
#: errcode -> retry_after for the codes that mean "try again".
RETRYABLE_ERRCODES: dict[int, float | None] = {-1: None, 45009: 60.0}
#: access_token invalid (40014), missing (41001), expired (42001): refresh and resend once.
TOKEN_ERRCODES = frozenset({40014, 41001, 42001})

_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
INVALID_KEYS = ("invaliduser", "invalidparty", "invalidtag")


class WeComConfig(WebhookOrTokenConfig):
    """The group robot (群机器人)."""

    kind: ClassVar[str] = "wecom"
    vendor_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "key")
    secret_fields: ClassVar[tuple[str, ...]] = ("webhook_url", "key")
    token_field: ClassVar[str] = "key"

    key: SecretStr | None = None
    msgtype: Literal["markdown", "text"] = "markdown"
    mentioned_list: list[str] = Field(default_factory=list)
    mentioned_mobile_list: list[str] = Field(default_factory=list)
    mention_label: str | None = None
    rate_limit_per_minute: float = 20.0

    _absolute_url = secret_url_check("webhook_url", f"must be a full URL, like {WECOM_ROBOT_URL}?key=...")

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
        hint = (
            f"set key to the value after key= ({len(found)} characters{shown})"
            if found
            else "set key to the value after key= in the robot's URL"
        )
        raise ValueError(f"is a whole URL, not a robot key: {hint}, or set webhook_url instead")

    def token_url(self, token: str) -> str:
        return f"{WECOM_ROBOT_URL}?key={token}"

    def build(self, ctx: NotifierContext) -> WeComNotifier:
        return WeComNotifier(self, ctx)


# -- HTTP and errcodes ----------------------------------------------------------------

#: errcode -> relay's hint on what to change.
EXPLAIN: dict[int, str] = {
    93000: "the robot's key is invalid or the robot was removed: check key / webhook_url",
    40058: "a field is missing or invalid",
}


def wecom_check(what: str) -> VendorCheck:
    """WeCom answers HTTP 200 with ``errcode``: 0 delivered; -1 (busy) and 45009 (over
    the rate) retryable; anything else permanent."""
    return errcode_check(
        "errcode",
        "errmsg",
        retryable=RETRYABLE_ERRCODES,
        what=what,
        explain=EXPLAIN,
        throttled=frozenset({45009}),
    )


async def wecom_call(
    ctx: NotifierContext,
    method: str,
    url: str,
    *,
    what: str,
    secrets: Sequence[str],
    json: dict[str, Any] | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """One WeCom API call: its JSON answer, or the error the outcome rules give.
    ``check=False`` leaves the errcode to the caller (token expiry is handled there)."""
    answer = await call(
        ctx.http,
        method,
        url,
        what=what,
        request_timeout=ctx.timeout,
        secrets=secrets,
        json=json,
        check=wecom_check(what) if check else None,
        expect_json=True,
    )
    data: dict[str, Any] = answer.data
    return data


# -- rendering (shared by the robot and the application) ------------------------------


def digest_contents(ctx: NotifierContext, name: str, digest: Digest, locale: str, msgtype: str) -> list[str]:
    """The contents of a digest in ``msgtype``, split between groups to WeCom's limit."""
    from relay.templating.digest import render_digest

    return render_digest(
        ctx.renderer, name, digest, locale=locale, limit=CONTENT_LIMITS[msgtype], msgtype=msgtype
    )


W = TypeVar("W", bound=PartsConfig)


class WeComPoster(PostingNotifier[W]):
    """What the robot and the application share: WeCom's limit on ``content`` bytes."""

    unit = "content bytes"

    def __init__(self, config: W, ctx: NotifierContext, msgtype: str) -> None:
        super().__init__(config, ctx)
        self.limit = CONTENT_LIMITS[msgtype]

    def body_size(self, body: dict[str, Any]) -> int:
        part = body.get(body.get("msgtype", ""))
        return nbytes(str(part.get("content", ""))) if isinstance(part, dict) else 0

    def render_split(self, name: str, n: Notification, limit: int, **extra: Any) -> list[str]:
        """The contents for template ``name``: one, or several parts each a complete
        rendering of the template for its share of the alerts (and "and N more" last)."""
        return split_rendered(
            self.render_alerts(name, n, strip=True, **extra),
            len(n.alerts),
            limit,
            max_parts=self._cfg.max_parts,
        )


# -- the group robot ------------------------------------------------------------------


class WeComNotifier(WeComPoster[WeComConfig]):
    """POSTs markdown or text to a group robot; mentions from config and alert labels."""

    def __init__(self, config: WeComConfig, ctx: NotifierContext) -> None:
        super().__init__(config, ctx, config.msgtype)
        self._url = config.url
        self._secrets = [*config.secrets(), *url_secret_parts(self._url)]
        self.rate_limit_key = destination_key("wecom", self._url)
        self.rate_limits = (Rate.per_minute(config.rate_limit_per_minute),)

    def mentions(self, n: Notification) -> tuple[list[str], list[str]]:
        """(userids, mobiles) to mention: the static lists, then ``mention_label`` values
        of the firing alerts (all digits: a mobile; else a userid). "@all" is honoured only
        from config. Nobody is woken for a resolved alert: a notification with no firing
        alert mentions no one."""
        cfg = self._cfg
        userids, mobiles = mentions(
            n,
            cfg.mention_label,
            _mention_kind,
            cfg.mentioned_list,
            cfg.mentioned_mobile_list,
            people=self._ctx.addresses("wecom"),
        )
        return userids, mobiles

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The JSON bodies ``send`` would POST, in order."""
        n = message.notification
        msgtype = self._cfg.msgtype
        userids, mobiles = self.mentions(n)
        limit = CONTENT_LIMITS[msgtype]
        if msgtype == "text":
            contents = self.render_split("wecom.text", n, limit)
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
        contents = self.render_split("wecom.markdown", n, limit)
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

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        # A digest mentions nobody: it summarises, the groups' own messages wake people.
        msgtype = self._cfg.msgtype
        contents = digest_contents(self._ctx, "wecom.digest", digest, self._locale, msgtype)
        return [{"msgtype": msgtype, msgtype: {"content": c}} for c in contents]

    async def _post(self, body: dict[str, Any]) -> None:
        await wecom_call(self._ctx, "POST", self._url, what="WeCom robot", json=body, secrets=self._secrets)


def _mention_kind(item: str) -> int | None:
    """0: a userid, 1: a mobile (all digits); "@all" only from config."""
    if item.lstrip("+").isdigit():
        return 1
    return 0 if _USERID.match(item) and item != "@all" else None


def _plain_first_line(markdown: str) -> str:
    for line in markdown.splitlines():
        plain = re.sub(r"<[^>]*>|[*#>`]", "", line).strip()
        if plain:
            return plain
    return "alert"


# -- application messages -------------------------------------------------------------


CHANNELS = (
    Channel(
        "wecom",
        WeComConfig,
        templates=("wecom.markdown", "wecom.text", "wecom.digest"),
        preview_settings={"key": "preview"},
    ),
)
