"""Whose is this URL or key? Recognising a value pasted into the wrong channel's field.

Robot URLs and keys look alike to a tired operator: a DingTalk URL in a WeCom entry, a
``SEC...`` secret in DingTalk's ``access_token``, a WeCom URL in Feishu's field. Each
would pass a "starts with https://" check and then fail on the first page. Every vendor
has a host and key shapes of its own, so the config can say where a value belongs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Owner", "misplaced", "owner_of_key", "owner_of_url"]


@dataclass(frozen=True)
class Owner:
    """The vendor a value belongs to and where it goes in relay's config."""

    vendor: str  # "dingtalk": the vendor, as channels' kinds name it
    what: str  # "a DingTalk robot URL"
    belongs: str  # "dingtalk_configs[].webhook_url"
    field: str  # "webhook_url": the field that takes it, in the vendor's own entries

    @property
    def what_zh(self) -> str:
        """``what`` in Chinese, for the warnings the console shows ('' when not known)."""
        return _WHAT_ZH.get(self.what, "")


#: The addresses a warning names (relay.channels.webhook), in Chinese.
_WHAT_ZH = {
    "a WeCom group robot URL": "企业微信群机器人地址",
    "WeCom's API address": "企业微信 API 地址",
    "a DingTalk robot URL": "钉钉机器人地址",
    "a Feishu bot hook URL": "飞书机器人地址",
    "Feishu's API address": "飞书 API 地址",
    "a Slack URL": " Slack 地址",
    "a Microsoft Teams webhook URL": " Microsoft Teams webhook 地址",
    "Telegram's Bot API address": " Telegram Bot API 地址",
}


#: The channel kinds of each vendor: a value of the vendor is at home in any of them.
VENDOR_KINDS: dict[str, frozenset[str]] = {
    "wecom": frozenset({"wecom", "wecom_app"}),
    "dingtalk": frozenset({"dingtalk"}),
    "feishu": frozenset({"feishu", "feishu_app"}),
    "slack": frozenset({"slack"}),
    "msteams": frozenset({"msteams"}),
    "telegram": frozenset({"telegram"}),
    "aliyun": frozenset({"aliyun_sms", "aliyun_voice"}),
    "tencent": frozenset({"tencent_sms", "tencent_voice"}),
    "twilio": frozenset({"twilio"}),
}


def _host_is(host: str, *domains: str) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def owner_of_url(url: str) -> Owner | None:
    """The vendor whose robot or API ``url`` addresses, by its host (and path where one
    host serves several things); None for any other address (a proxy, a sink)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    path = parts.path
    if host == "qyapi.weixin.qq.com":
        if path.startswith("/cgi-bin/webhook/"):
            return Owner("wecom", "a WeCom group robot URL", "wecom_configs[].webhook_url", "webhook_url")
        return Owner("wecom", "WeCom's API address", "wecom_app_configs[].api_url", "api_url")
    if host in ("oapi.dingtalk.com", "api.dingtalk.com"):
        return Owner("dingtalk", "a DingTalk robot URL", "dingtalk_configs[].webhook_url", "webhook_url")
    if host in ("open.feishu.cn", "open.larksuite.com"):
        if "/bot/v2/hook/" in path:
            return Owner("feishu", "a Feishu bot hook URL", "feishu_configs[].webhook_url", "webhook_url")
        return Owner("feishu", "Feishu's API address", "feishu_app_configs[].api_url", "api_url")
    if _host_is(host, "hooks.slack.com", "slack.com"):
        return Owner("slack", "a Slack URL", "slack_configs[].api_url", "api_url")
    if _host_is(host, "webhook.office.com", "logic.azure.com") or (
        host == "outlook.office.com" and path.startswith("/webhook")
    ):
        return Owner(
            "msteams",
            "a Microsoft Teams webhook URL",
            "msteams_configs[].webhook_url",
            "webhook_url",
        )
    if host == "api.telegram.org":
        return Owner("telegram", "Telegram's Bot API address", "telegram_configs[].bot_token", "bot_token")
    return None


#: Key shapes, most specific first. Each vendor's keys as its console hands them out.
_KEY_SHAPES: tuple[tuple[re.Pattern[str], Owner], ...] = (
    (
        re.compile(r"^SEC[0-9a-f]{64}$"),
        Owner("dingtalk", "a DingTalk robot's 加签 secret (SEC...)", "dingtalk_configs[].secret", "secret"),
    ),
    (
        re.compile(r"^[0-9a-f]{64}$"),
        Owner(
            "dingtalk",
            "a DingTalk robot's access_token (64 hex characters)",
            "dingtalk_configs[].access_token",
            "access_token",
        ),
    ),
    (
        re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
        Owner(
            "wecom",
            "a WeCom robot key (a UUID; the end of a Feishu hook URL has the same shape)",
            "wecom_configs[].key",
            "key",
        ),
    ),
    (
        re.compile(r"^[0-9]{5,12}:[A-Za-z0-9_-]{30,}$"),
        Owner("telegram", "a Telegram bot token", "telegram_configs[].bot_token", "bot_token"),
    ),
    (
        re.compile(r"^xox[abpe]-"),
        Owner("slack", "a Slack token (xox...)", "slack_configs[].token", "token"),
    ),
    (
        re.compile(r"^LTAI[0-9A-Za-z]{12,30}$"),
        Owner(
            "aliyun", "an Aliyun AccessKey ID (LTAI...)", "aliyun_*_configs[].access_key_id", "access_key_id"
        ),
    ),
    (
        re.compile(r"^AKID[0-9A-Za-z]{20,40}$"),
        Owner("tencent", "a Tencent Cloud SecretId (AKID...)", "tencent_*_configs[].secret_id", "secret_id"),
    ),
    (
        re.compile(r"^AC[0-9a-f]{32}$"),
        Owner("twilio", "a Twilio Account SID (AC...)", "twilio_configs[].account_sid", "account_sid"),
    ),
)


def owner_of_key(value: str) -> Owner | None:
    """The vendor whose key shape ``value`` has; None when it has no telling shape."""
    text = value.strip()
    for shape, owner in _KEY_SHAPES:
        if shape.match(text):
            return owner
    return None


def misplaced(kind: str, field: str, value: str) -> str | None:
    """Why ``value`` does not belong in ``<kind>_configs[].<field>``, or None.

    A URL is judged by its host; a key by its shape. A value of this channel's own vendor
    in another of its fields (a ``SEC...`` secret as DingTalk's ``access_token``) is
    named too. A value of no known vendor is left alone: proxies and private deployments
    are legitimate. The message describes the value, never echoes it (it is a secret)."""
    looks_like_url = "://" in value
    if field.endswith("url") and not looks_like_url:
        return None  # not a URL at all: the field's own check says what it wants
    owner = owner_of_url(value) if looks_like_url else owner_of_key(value)
    if owner is None:
        return None
    if kind not in VENDOR_KINDS.get(owner.vendor, frozenset()):
        verb = "is" if looks_like_url else "looks like"
        return f"{verb} {owner.what}: it belongs in {owner.belongs}, not in {kind}_configs"
    if looks_like_url or owner.field == field or field not in _VENDOR_FIELDS[owner.vendor]:
        return None
    return f"looks like {owner.what}, not its {field}: set it as {owner.field}"


#: Each vendor's fields that take one of its recognised values: another of its own
#: values in one of these is a mix-up between two fields of the same entry.
_VENDOR_FIELDS: dict[str, frozenset[str]] = {
    vendor: frozenset(owner.field for _, owner in _KEY_SHAPES if owner.vendor == vendor)
    for vendor in VENDOR_KINDS
}
