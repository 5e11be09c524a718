"""The sections of the config that stand alone: global, server (auth, the console),
storage, delivery, and one route of the route tree."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from relay.channels.base import Locale
from relay.config.storage import SENTINEL_SCHEMES, parse_redis_url, parse_sqlite_url, storage_kind
from relay.core.durations import Duration, within
from relay.core.secrets import SecretFieldsModel, StrictModel

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class GlobalConfig(StrictModel):
    # relay's address as the readers of its messages reach it: emails link to the
    # receiver's delivery log there. Empty: no such link (localhost would be a dead one).
    external_url: str = ""
    timezone: str = "UTC"
    locale: Locale = "en"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. UTC, Asia/Shanghai)") from None
        return value


class ActionsConfig(StrictModel):
    """Action links in messages: Acknowledge, Silence 1h, Silence 4h (they need
    ``global.external_url``: the links point there)."""

    link_ttl: Annotated[Duration, within(3600, 90 * 86400)] = 7 * 86400.0
    # The silences a message offers, in order; an empty list offers none.
    silence: list[Annotated[Duration, within(60, 30 * 86400)]] = Field(
        default_factory=lambda: [3600.0, 4 * 3600.0], max_length=4
    )
    # Whether messages carry the links at all.
    links: bool = True


class BasicAuthConfig(SecretFieldsModel):
    secret_fields = ("password",)

    username: str
    password: SecretStr


class AuthConfig(SecretFieldsModel):
    secret_fields = ("bearer_token",)

    bearer_token: SecretStr | None = None
    basic_auth: BasicAuthConfig | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AuthConfig:
        if (self.bearer_token is None) == (self.basic_auth is None):
            raise ValueError("set exactly one of bearer_token or basic_auth")
        if self.bearer_token is not None and not self.bearer_token.get_secret_value():
            raise ValueError("bearer_token is empty")
        return self


class UIConfig(StrictModel):
    """The operator console (/ui/ and the /api/v1/ console endpoints)."""

    read_only: bool = False  # retry, resend and send-test answer 403
    # The last received webhooks kept (in the store) for the template playground; 0 keeps none.
    keep_webhooks: int = Field(default=50, ge=0, le=10_000)
    keep_webhook_bytes: int = Field(default=1024 * 1024, ge=0)


class ServerConfig(StrictModel):
    listen: str = "0.0.0.0:9095"
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # A request's line and headers must arrive within read_timeout of its first byte
    # (or of the connection), and its body within read_timeout of the headers.
    read_timeout: Annotated[Duration, within(0.001, 3600)] = 15.0
    # Open connections; past it a request is answered 503 + Retry-After and closed.
    # `relay serve` lowers it (with a warning) to fit the open-file limit.
    max_connections: int = Field(default=1024, gt=0)
    keepalive_timeout: Annotated[Duration, within(0.001, 3600)] = 30.0  # idle keep-alive connection
    auth: AuthConfig | None = None
    ui: UIConfig = Field(default_factory=UIConfig)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen(value)
        return value


def split_listen(value: str) -> tuple[str, int]:
    """('0.0.0.0', 9095) from '0.0.0.0:9095' or '[::1]:9095'."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class StorageConfig(SecretFieldsModel):
    secret_fields = ("sentinel_password",)

    url: str = "sqlite:///./data/relay.db"
    # Delivered jobs stay in the delivery log this long.
    retention: Annotated[Duration, within(60, 3650 * 86400)] = 7 * 86400.0
    # The notification log of a quiet group stays this long.
    group_retention: Annotated[Duration, within(60, 3650 * 86400)] = 5 * 86400.0
    # The sentinels' own password (requirepass of the sentinels), when they have one.
    sentinel_password: SecretStr | None = None
    # Redis replicas a write must reach before relay answers 200 (WAIT); 0: the primary's.
    min_replicas_acked: int = Field(default=0, ge=0, le=16)
    replica_ack_timeout: Annotated[Duration, within(0.01, 60)] = 1.0

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        kind = storage_kind(value)  # the ValueError says what is expected
        # Bad parts and options named here, without opening anything.
        if kind == "redis":
            parse_redis_url(value)
        else:
            parse_sqlite_url(value)
        return value

    @model_validator(mode="after")
    def _redis_only(self) -> StorageConfig:
        redis = storage_kind(self.url) == "redis"
        if self.min_replicas_acked and not redis:
            raise ValueError("min_replicas_acked needs Redis replicas: storage.url is SQLite")
        if self.sentinel_password is not None and not self.url.startswith(SENTINEL_SCHEMES):
            raise ValueError("sentinel_password is for a redis+sentinel:// url")
        return self

    def secrets(self) -> list[str]:
        """The password in the URL (``redis://:password@host``), as written and decoded,
        and the sentinels' password."""
        found = [self.sentinel_password.get_secret_value()] if self.sentinel_password else []
        if self.url.startswith(SENTINEL_SCHEMES):
            sentinel = parse_redis_url(self.url).sentinel
            password = sentinel.password if sentinel is not None else None
            return found + ([password] if password else [])
        password = urlsplit(self.url).password
        return found + ([password, unquote(password)] if password else [])


class DeliveryConfig(StrictModel):
    timeout: Annotated[Duration, within(0.001, 600)] = 10.0
    retry_for: Annotated[Duration, within(0, 30 * 86400)] = 3600.0  # 0: never retried
    backoff_initial: Annotated[Duration, within(0.001, 3600)] = 1.0
    backoff_max: Annotated[Duration, within(0.001, 86400)] = 300.0
    max_in_flight: int = Field(default=64, gt=0)  # concurrent attempts, all destinations
    # Jobs one integration may hold at once (queued here + being sent); unset:
    # max(1, max_in_flight // 8). A destination that hangs holds this many, never more.
    max_in_flight_per_integration: int | None = Field(default=None, gt=0)
    # Attempts one integration makes at once when its destination has no rate limit
    # (webhook, email, log); never more than its share. 1: one at a time.
    parallel_sends_per_integration: int = Field(default=8, gt=0)
    # How long a claimed job is held before others may take it.
    lease: Annotated[Duration, within(1, 86400)] = 60.0

    @model_validator(mode="after")
    def _share_leaves_room(self) -> DeliveryConfig:
        share = self.max_in_flight_per_integration
        if share is not None and share > 1 and share * 2 > self.max_in_flight:
            raise ValueError(
                f"max_in_flight_per_integration ({share}) must be at most half of max_in_flight"
                f" ({self.max_in_flight}), so that a destination that hangs leaves slots to the"
                " others; raise max_in_flight or lower the share"
            )
        return self

    @property
    def integration_share(self) -> int:
        """Jobs one integration may hold in this process: its share of ``max_in_flight``."""
        if self.max_in_flight_per_integration is not None:
            return self.max_in_flight_per_integration
        return max(1, self.max_in_flight // 8)

    @property
    def parallel_sends(self) -> int:
        """Attempts one integration without a rate limit makes at once."""
        return min(self.parallel_sends_per_integration, self.integration_share)


class RouteConfig(StrictModel):
    """One node of the route tree; unset timers and group_by inherit from the parent."""

    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: Annotated[Duration, within(0, 7 * 86400)] | None = None
    group_interval: Annotated[Duration, within(0.001, 30 * 86400)] | None = None
    repeat_interval: Annotated[Duration, within(0.001, 365 * 86400)] | None = None
    matchers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)  # legacy Alertmanager form
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(default=False, alias="continue")
    # Names from the top-level time_intervals; as in Alertmanager, not inherited by
    # child routes. mute/active drop notifications; hold keeps them for a digest.
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    hold_time_intervals: list[str] = Field(default_factory=list)
    # The escalation policy of this route's groups (escalation_policies); not inherited.
    escalation: str | None = None
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _label_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if name != "..." and not _LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r} in group_by")
        return value
