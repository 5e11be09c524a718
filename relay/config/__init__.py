"""The whole YAML config as pydantic models: env expansion, secrets, cross-checks.

``load_config(path)`` returns a validated :class:`Config` or raises ConfigError with
every problem as a 'path: problem' line (``route.routes[1].matchers[0]: ...``).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import types
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
)

from relay.channels import CHANNEL_TYPES, CHANNELS
from relay.channels.base import ChannelConfig
from relay.channels.phone import PhoneConfig
from relay.config.alertmanager import AlertmanagerConfig
from relay.config.checks import Finding, Loc, cross_check, expand_env, format_loc, grouping_warnings
from relay.config.escalations import EscalationPolicyConfig
from relay.config.heartbeats import HeartbeatConfig
from relay.config.oncall import PersonConfig, ScheduleConfig
from relay.config.reader import expansion_problem, load_yaml, yaml_problem
from relay.config.sections import (
    ActionsConfig,
    DeliveryConfig,
    GlobalConfig,
    RouteConfig,
    ServerConfig,
    StorageConfig,
)
from relay.config.timeintervals import TimeIntervalConfig
from relay.core.errors import ConfigError
from relay.core.files import MAX_CONFIG_BYTES, FileProblem, read_text
from relay.core.integrations import IntegrationId
from relay.core.resources import PACKAGED_DEFAULT_SOURCE, default_config_text
from relay.core.said import Said, placed
from relay.core.schedules import Override, Schedule
from relay.core.secrets import StrictModel, header_credentials
from relay.core.timeintervals import TimeIntervalSpec

DEFAULT_CONFIG_PATH = "config/relay.yml"


class _Receiver(StrictModel):
    """A receiver: its name, and one ``<kind>_configs`` list per registered channel
    (added from the registry below, so a new channel needs no edit here)."""

    name: str = Field(min_length=1)

    if TYPE_CHECKING:  # the ``*_configs`` fields are created from the registry

        def __getattr__(self, name: str) -> list[Any]: ...

    def entries(self) -> Iterator[tuple[IntegrationId, ChannelConfig]]:
        """(integration id, config) for every entry, in the registry's channel order."""
        for channel in CHANNELS:
            for index, cfg in enumerate(getattr(self, channel.field)):
                yield IntegrationId(self.name, cfg.kind, index), cfg

    def integrations(self) -> Iterator[tuple[str, ChannelConfig]]:
        """(integration id, config) for every entry: '<receiver>/<type>/<index>'."""
        for integration, cfg in self.entries():
            yield str(integration), cfg


if TYPE_CHECKING:
    ReceiverConfig = _Receiver
else:
    ReceiverConfig = create_model(
        "ReceiverConfig",
        __base__=_Receiver,
        __doc__=_Receiver.__doc__,
        **{field: (list[config], Field(default_factory=list)) for field, config in CHANNEL_TYPES.items()},
    )


class Config(StrictModel):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    server: ServerConfig = Field(default_factory=ServerConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    templates: list[str] = Field(default_factory=list)
    # Where silences made from a message (Slack's buttons) are created; unset: no such buttons.
    alertmanager: AlertmanagerConfig | None = None
    time_intervals: list[TimeIntervalConfig] = Field(default_factory=list)
    # On call: who can be paged (people) and who is on call when (schedules).
    people: list[PersonConfig] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    # Whom to page, and when, until a group is acknowledged (routes name one).
    escalation_policies: list[EscalationPolicyConfig] = Field(default_factory=list)
    # Acknowledge and silence from the message itself (links to relay's /a/ pages).
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    # Alerts that must keep arriving (a dead-man's switch): relay.config.heartbeats.
    heartbeats: list[HeartbeatConfig] = Field(default_factory=list)
    route: RouteConfig
    receivers: list[ReceiverConfig] = Field(min_length=1)

    # Set by load_config: where it came from and a hash of the text, for /api/v1/status.
    source: str = Field(default="", exclude=True)
    digest: str = Field(default="", exclude=True)
    # Set by load_config: settings accepted but likely wrong ('path: warning' lines).
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return self._warnings

    def interval_specs(self) -> dict[str, tuple[TimeIntervalSpec, ...]]:
        """Each named time interval's specs (names are unique: a cross-check)."""
        return {interval.name: interval.specs() for interval in self.time_intervals}

    def person(self, name: str) -> PersonConfig | None:
        return next((p for p in self.people if p.name == name), None)

    def schedule(self, name: str, runtime: tuple[Override, ...] = ()) -> Schedule | None:
        """The schedule ``name`` as relay.core.schedules computes it, with the overrides
        made at run time after the file's; None when there is no such schedule."""
        found = next((s for s in self.schedules if s.name == name), None)
        return found.model(self.interval_specs(), runtime) if found is not None else None

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
        if self.alertmanager is not None:
            values += self.alertmanager.secrets()
        auth = self.server.auth
        if auth is not None:
            if auth.bearer_token is not None:
                values.append(auth.bearer_token.get_secret_value())
            if auth.basic_auth is not None:
                password = auth.basic_auth.password.get_secret_value()
                values += [password, f"{auth.basic_auth.username}:{password}"]
        values += self.storage.secrets()
        values += [part for value in values for part in header_credentials(value)]
        return list(dict.fromkeys(v for v in values if v))


# -- loading ------------------------------------------------------------------------


class InvalidConfig(ConfigError):
    """A ConfigError that also carries the warnings found in the same run."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        super().__init__(problems)
        self.warnings = warnings or []


def _pydantic_problems(exc: ValidationError) -> list[Finding]:
    problems: list[Finding] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            guess = _did_you_mean(loc)
            message = (
                f"unknown key; did you mean {guess}?"
                if guess
                else "unknown key (check the spelling; see docs/configuration.md)"
            )
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "string_type" and type(err.get("input")) in (int, float):
            message += _read_as_number(err["input"])
        problems.append((loc, message))
    return problems


def _read_as_number(value: float) -> str:
    """Why YAML made a number of what the user wrote as text, and what to write instead.

    YAML 1.1 reads ``22:00`` as the base-60 number 1320 and ``08`` as 8: a time, a
    version or an id left unquoted arrives as a number.
    """
    if isinstance(value, int) and 0 <= value < 24 * 60 + 1:
        hours, minutes = divmod(value, 60)
        return (
            f" (YAML read {value}: unquoted, a time like {hours:02d}:{minutes:02d} is a base-60"
            f' number; quote it: "{hours:02d}:{minutes:02d}")'
        )
    return f' (YAML read the number {value}; quote the value to keep it as text: "{value}")'


def _did_you_mean(loc: Loc) -> str | None:
    """The key of the model at ``loc[:-1]`` closest to the unknown ``loc[-1]``, if any is."""
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return None
    keys = [info.alias or name for name, info in model.model_fields.items()]
    keys += [f"{name}_file" for name in getattr(model, "secret_fields", ())]
    found = difflib.get_close_matches(loc[-1], keys, n=1)
    return found[0] if found else None


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` of a Config."""
    kind: Any = Config
    for part in loc:
        kind = _unwrap_optional(kind)
        if isinstance(part, int):
            if typing.get_origin(kind) is not list:
                return None
            kind = typing.get_args(kind)[0]
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            fields = kind.model_fields
            info = next((f for n, f in fields.items() if part in (n, f.alias)), None)
            if info is None:
                return None
            kind = info.annotation
        elif typing.get_origin(kind) is dict:
            kind = typing.get_args(kind)[1]
        else:
            return None
    kind = _unwrap_optional(kind)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _unwrap_optional(kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return kind


def _channel_warnings(raw: dict[str, Any], config: Config | None) -> list[Finding]:
    """Warnings of every channel entry that validates (``config_warnings()`` of its model),
    also when another part of the file does not."""
    found: list[Finding] = []
    receivers = raw.get("receivers")
    for i, receiver in enumerate(receivers if isinstance(receivers, list) else []):
        if not isinstance(receiver, dict):
            continue
        for key, model in CHANNEL_TYPES.items():
            entries = receiver.get(key)
            for j, entry in enumerate(entries if isinstance(entries, list) else []):
                channel: ChannelConfig
                if config is not None:
                    channel = getattr(config.receivers[i], key)[j]
                else:
                    try:
                        channel = model.model_validate(entry)
                    except ValidationError:
                        continue
                check = getattr(channel, "config_warnings", None)
                for name, message in check() if check is not None else []:
                    found.append((("receivers", i, key, j, name), message))
    return found


def _action_warnings(raw: dict[str, Any], config: Config | None) -> list[Finding]:
    """Action links point at ``global.external_url``: without it messages carry none.
    Said where someone would expect them (an ``actions:`` section, silences through
    ``alertmanager:``, people to page); the default config stays quiet."""
    if config is None or config.global_.external_url or not config.actions.links:
        return []
    if "actions" in raw or config.alertmanager is not None or config.people:
        return [
            (
                ("global", "external_url"),
                Said(
                    "not set: messages carry no Acknowledge / Silence links (set it to the address"
                    " people's phones reach relay at, or actions.links: false to say you want none)",
                    "未设置：消息里不会有“确认”/“静默”链接（请设为值班人员手机能访问 relay 的地址；"
                    "确实不要链接时，设置 actions.links: false）",
                ),
            )
        ]
    return []


def _phone_warnings(config: Config | None) -> list[Finding]:
    """A phone channel that would call nobody (no ``to`` and no escalation that pages
    through its receiver), and a Twilio call that cannot report back (no
    ``global.external_url``: no "press 1", no answered or not on the timeline)."""
    if config is None:
        return []
    paging = {s.receiver for policy in config.escalation_policies for s in policy.steps if s.receiver}
    stack = [config.route]
    while stack:
        route = stack.pop()
        if route.escalation and route.receiver:
            paging.add(route.receiver)
        stack.extend(route.routes)
    found: list[Finding] = []
    for i, receiver in enumerate(config.receivers):
        for integration, channel in receiver.integrations():
            kind, index = integration.split("/")[1], int(integration.split("/")[2])
            if not isinstance(channel, PhoneConfig):
                continue
            where: Loc = ("receivers", i, f"{kind}_configs", index)
            if not channel.to and receiver.name not in paging:
                found.append(
                    (
                        (*where, "to"),
                        Said(
                            f"empty, and no escalation pages through receiver {receiver.name!r}: it calls"
                            " nobody (add numbers, or name the receiver in an escalation step)",
                            f"为空，且没有升级策略通过接收者 {receiver.name!r} 呼叫：不会呼叫任何人"
                            "（请添加号码，或在升级步骤中使用这个接收者）",
                        ),
                    )
                )
            lacking = channel.without_external_url() if not config.global_.external_url else None
            if lacking is not None:
                found.append(((*where, lacking[0]), lacking[1]))
    return found


def parse_config(text: str, *, source: str = "<string>", env: dict[str, str] | None = None) -> Config:
    """Validate config text; raise InvalidConfig listing every problem and warning.

    One pass reports all of them: YAML, environment, schema, cross-references and
    warnings (``Config.warnings`` when the config is valid).
    """
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        raise InvalidConfig([yaml_problem(exc, text, source)]) from None
    if not isinstance(raw, dict):
        raise InvalidConfig([f"{source}: expected a mapping at the top level"])
    expansion = expansion_problem(raw)
    if expansion is not None:
        raise InvalidConfig([f"{source}: {expansion}"])
    problems: list[Finding] = []
    warnings: list[Finding] = []
    raw = expand_env(raw, (), dict(os.environ) if env is None else env, problems, warnings)
    env_locs = [loc for loc, _ in problems]

    def follows_from_env(loc: Loc) -> bool:
        # An unset ${VAR} expands to '' and a bare $VAR stays: what the field, or the model
        # holding it, then says about that value would only repeat the problem.
        return any(loc[: len(u)] == u or loc == u[:-1] for u in env_locs)

    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems += [p for p in _pydantic_problems(exc) if not follows_from_env(p[0])]
    problems += [p for p in cross_check(raw) if not follows_from_env(p[0])]
    warnings += _channel_warnings(raw, config)
    warnings += _action_warnings(raw, config)
    warnings += _phone_warnings(config)
    warnings += grouping_warnings(raw)

    def lines(found: list[Finding]) -> list[str]:
        return [placed(format_loc(loc) or "config", message) for loc, message in found]

    if problems or config is None:
        raise InvalidConfig(lines(problems), lines(warnings))
    config.source = source
    config.digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    config._warnings = lines(warnings)
    return config


def load_config(path: str | os.PathLike[str]) -> Config:
    try:
        text = read_text(path, MAX_CONFIG_BYTES)
    except FileProblem as exc:
        raise InvalidConfig([str(exc)]) from None
    return parse_config(text, source=str(path))


def load_packaged_default() -> Config:
    """The embedded default, parsed: what relay runs with when no config file is given."""
    return parse_config(default_config_text(), source=PACKAGED_DEFAULT_SOURCE)
