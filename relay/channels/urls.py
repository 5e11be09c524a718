"""Endpoint URLs that are secrets: checking them without echoing them, and their
secret parts, for redaction.

A webhook URL is a secret as a whole, but the far side (or a proxy) may echo only a part
of it: Slack's ``/services/T…/B…/<secret>`` path or its last segment, WeCom's bare
``key`` value. Redacting the whole URL alone would let those through.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import SecretStr, field_validator, model_validator

from relay.channels.base import PartsConfig
from relay.channels.vendors import owner_of_url

#: Shorter path segments are words (``services``, ``send``), not credentials.
MIN_SEGMENT = 16
#: Shorter query values are flags and ids; keys and tokens are longer.
MIN_VALUE = 8


def url_secret_parts(url: str) -> list[str]:
    """The URL itself, then its path, long path segments, query values and password."""
    parts = urlsplit(url)
    found = [url]
    path = parts.path.rstrip("/")
    segments = [unquote(s) for s in path.split("/") if len(s) >= MIN_SEGMENT]
    if segments:
        found.append(path)
        found += segments
    found += [v for _, v in parse_qsl(parts.query) if len(v) >= MIN_VALUE]
    if parts.password:
        found.append(unquote(parts.password))
    return list(dict.fromkeys(found))


def secret_url_check(field: str, wrong: str) -> Any:
    """A validator for the config's ``field``, a secret URL: it must start with https://
    or http://; else the error says ``wrong`` (or "is empty"), describing the value
    without echoing it. Use: ``_url = secret_url_check("webhook_url", "must be ...")``."""

    def check(cls: type[Any], value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value() if value is not None else None
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(wrong if url else "is empty")
        # http:// is for an address inside the network (a proxy, a test sink); to the
        # vendor itself it would carry the robot's key across the internet in clear.
        owner = owner_of_url(url) if url and url.startswith("http://") else None
        if owner is not None:
            raise ValueError(f"is {owner.what} over http://: use https://, or the key travels unencrypted")
        return value

    return field_validator(field)(classmethod(check))


class WebhookOrTokenConfig(PartsConfig):
    """A robot addressed by its whole ``webhook_url`` or by its token alone (WeCom's
    ``key``, DingTalk's ``access_token``) put into the vendor's URL: exactly one of them."""

    #: The name of the token's field.
    token_field: ClassVar[str]

    webhook_url: SecretStr | None = None

    @model_validator(mode="after")
    def _one_address(self) -> Self:
        if (self.webhook_url is None) == (getattr(self, self.token_field) is None):
            raise ValueError(f"set exactly one of webhook_url or {self.token_field}")
        return self

    @abc.abstractmethod
    def token_url(self, token: str) -> str:
        """The robot's URL for the bare ``token``."""

    @property
    def url(self) -> str:
        if self.webhook_url is not None:
            return self.webhook_url.get_secret_value()
        token: SecretStr = getattr(self, self.token_field)
        return self.token_url(token.get_secret_value())
