"""The whole YAML config as pydantic models: env expansion, secrets, cross-checks.

``load_config(path)`` returns a validated :class:`Config` or raises ConfigError with
every problem as a 'path: problem' line (``route.routes[1].matchers[0]: ...``).
"""

from __future__ import annotations

import hashlib
import os
import re
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from relay.channels.base import ChannelConfig, Locale
from relay.channels.email import EmailConfig
from relay.channels.log import LogConfig
from relay.channels.slack import SlackConfig
from relay.channels.webhook import WebhookConfig
from relay.channels.wecom import WeComAppConfig, WeComConfig
from relay.durations import Duration
from relay.errors import ConfigError
from relay.secrets import SecretFieldsModel, StrictModel, header_credentials

DEFAULT_CONFIG_PATH = "config/relay.yml"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class GlobalConfig(StrictModel):
    external_url: str = "http://localhost:9095"
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


class ServerConfig(StrictModel):
    listen: str = "0.0.0.0:9095"
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # A request's line and headers must arrive within read_timeout of its first byte
    # (or of the connection), and its body within read_timeout of the headers.
    read_timeout: Duration = Field(default=15.0, gt=0)
    # Open connections; past it a request is answered 503 + Retry-After and closed.
    # `relay serve` lowers it (with a warning) to fit the open-file limit.
    max_connections: int = Field(default=1024, gt=0)
    keepalive_timeout: Duration = Field(default=30.0, gt=0)  # idle keep-alive connection
    auth: AuthConfig | None = None

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


class StorageConfig(StrictModel):
    url: str = "sqlite:///./data/relay.db"
    retention: Duration = 7 * 86400.0  # delivered jobs kept this long for the delivery log
    group_retention: Duration = 5 * 86400.0  # notification log of a quiet group

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "redis://", "rediss://", "unix://")):
            raise ValueError("expected sqlite:///path, redis://host:port/db or rediss://...")
        if value.startswith(("redis://", "rediss://", "unix://")):
            from relay.store.redis import RedisStore

            RedisStore.from_url(value)  # parses only (no connection): bad options named here
        return value


class DeliveryConfig(StrictModel):
    timeout: Duration = 10.0
    retry_for: Duration = 3600.0
    backoff_initial: Duration = 1.0
    backoff_max: Duration = 300.0
    max_in_flight: int = Field(default=64, gt=0)  # concurrent attempts, all destinations
    # Jobs one integration may hold at once (queued here + being sent); unset:
    # max(1, max_in_flight // 8). A destination that hangs holds this many, never more.
    max_in_flight_per_integration: int | None = Field(default=None, gt=0)
    lease: Duration = 60.0  # how long a claimed job is held before others may take it

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


class RouteConfig(StrictModel):
    """One node of the route tree; unset timers and group_by inherit from the parent."""

    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    matchers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)  # legacy Alertmanager form
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _label_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if name != "..." and not _LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r} in group_by")
        return value


class ReceiverConfig(StrictModel):
    name: str = Field(min_length=1)
    log_configs: list[LogConfig] = Field(default_factory=list)
    email_configs: list[EmailConfig] = Field(default_factory=list)
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    wecom_configs: list[WeComConfig] = Field(default_factory=list)
    wecom_app_configs: list[WeComAppConfig] = Field(default_factory=list)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)

    def integrations(self) -> Iterator[tuple[str, ChannelConfig]]:
        """(integration id, config) for every entry: '<receiver>/<type>/<index>'."""
        for configs in (
            self.log_configs,
            self.email_configs,
            self.slack_configs,
            self.wecom_configs,
            self.wecom_app_configs,
            self.webhook_configs,
        ):
            for index, cfg in enumerate(configs):
                yield f"{self.name}/{cfg.kind}/{index}", cfg


class Config(StrictModel):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    server: ServerConfig = Field(default_factory=ServerConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    templates: list[str] = Field(default_factory=list)
    route: RouteConfig
    receivers: list[ReceiverConfig] = Field(min_length=1)

    # Set by load_config: where it came from and a hash of the text, for /api/v1/status.
    source: str = Field(default="", exclude=True)
    digest: str = Field(default="", exclude=True)

    def receiver(self, name: str) -> ReceiverConfig | None:
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        return None

    def secrets(self) -> list[str]:
        """Every secret value in the config, so logs and errors can redact them.

        Besides each value: the ``user:password`` of every basic auth (webhooks, the
        server) and SMTP's AUTH PLAIN ``\\0user\\0password``, whose base64 is what goes on
        the wire, and the credential inside ``<scheme> <credential>`` header values.
        ``redact`` covers the encoded forms (base64, URL, JSON, hex) of each.
        """
        values: list[str] = []
        for receiver in self.receivers:
            for _, channel in receiver.integrations():
                values += channel.secrets()
                if isinstance(channel, WebhookConfig) and channel.basic_auth is not None:
                    basic = channel.basic_auth
                    values.append(f"{basic.username}:{basic.password.get_secret_value()}")
                if isinstance(channel, EmailConfig) and channel.auth_password is not None:
                    password = channel.auth_password.get_secret_value()
                    values.append(f"\0{channel.auth_username or ''}\0{password}")
        auth = self.server.auth
        if auth is not None:
            if auth.bearer_token is not None:
                values.append(auth.bearer_token.get_secret_value())
            if auth.basic_auth is not None:
                password = auth.basic_auth.password.get_secret_value()
                values += [password, f"{auth.basic_auth.username}:{password}"]
        values += [part for value in values for part in header_credentials(value)]
        return list(dict.fromkeys(v for v in values if v))


# -- loading ------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_loc(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """('route', 'routes', 1, 'matchers', 0) -> 'route.routes[1].matchers[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = {"global_": "global", "continue_": "continue", "from_": "from"}.get(part, part)
            out += f".{name}" if out else name
    return out


def _expand_env(node: Any, loc: list[int | str], env: dict[str, str], problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, [*loc, str(k)], env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, [*loc, i], env, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            f"{format_loc(loc)}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )
        return ""

    return _ENV_REF.sub(substitute, node)


def _pydantic_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        where = format_loc(loc) or "config"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see docs/configuration.md)"
        elif err["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{where}: {message}")
    return problems


def parse_config(text: str, *, source: str = "<string>", env: dict[str, str] | None = None) -> Config:
    """Validate config text; raise ConfigError listing every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: expected a mapping at the top level"])
    problems: list[str] = []
    raw = _expand_env(raw, [], dict(os.environ) if env is None else env, problems)
    if problems:
        raise ConfigError(problems)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_pydantic_problems(exc)) from None
    problems = cross_check(config)
    if problems:
        raise ConfigError(problems)
    config.source = source
    config.digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return config


def load_config(path: str | os.PathLike[str]) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror}"]) from None
    return parse_config(text, source=str(path))


def default_config_path() -> str:
    return os.environ.get("RELAY_CONFIG") or DEFAULT_CONFIG_PATH


def cross_check(config: Config) -> list[str]:
    """Checks that span sections: receiver names, route references, matchers."""
    from relay.routing import parse_matcher

    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, receiver in enumerate(config.receivers):
        if receiver.name in seen:
            problems.append(
                f"receivers[{index}].name: duplicate receiver name {receiver.name!r} "
                f"(first at receivers[{seen[receiver.name]}])"
            )
        seen.setdefault(receiver.name, index)

    if config.route.receiver is None:
        problems.append("route.receiver: the root route needs a receiver")

    def walk(route: RouteConfig, where: str) -> None:
        if route.receiver is not None and route.receiver not in seen:
            problems.append(
                f"{where}.receiver: unknown receiver {route.receiver!r} "
                f"(known: {', '.join(sorted(seen)) or 'none'})"
            )
        for i, text in enumerate(route.matchers):
            try:
                parse_matcher(text)
            except ValueError as exc:
                problems.append(f"{where}.matchers[{i}]: {exc}")
        for name, pattern in route.match_re.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"{where}.match_re.{name}: invalid regex: {exc}")
        for i, child in enumerate(route.routes):
            walk(child, f"{where}.routes[{i}]")

    walk(config.route, "route")
    return problems
