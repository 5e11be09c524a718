"""What every channel shares: its config base, the notifier contract and its context."""

from __future__ import annotations

import abc
import copy
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, TypeVar

import httpx
from pydantic import Field, ValidationInfo, field_validator, model_validator

from relay.channels.vendors import misplaced
from relay.core.alerts import Notification
from relay.core.durations import Duration, format_duration, within
from relay.core.rates import UNPACED, Pace, Rate
from relay.core.secrets import SecretFieldsModel, StrictModel

if TYPE_CHECKING:
    from relay.core.digests import Digest, DigestMessage
    from relay.templating.engine import Renderer

Locale = Literal["en", "zh-CN"]


class BurstConfig(StrictModel):
    """Many notifications for one integration in a short time, which its rate limit could
    let out: each would buzz a phone (docs/storms-and-quiet-hours.md#bursts).

    The first ``after`` notifications in any ``window`` go alone, at once; later ones wait
    (at most ``collect``) and go together, with whatever else is due by then, as one digest."""

    enabled: bool = True
    after: int = Field(default=3, ge=1)
    window: Annotated[Duration, within(1, 86400)] = 60.0
    collect: Annotated[Duration, within(1, 3600)] = 10.0

    @model_validator(mode="after")
    def _collect_within_window(self) -> BurstConfig:
        # A burst ends when fewer than `after` messages went out in the last `window`; a
        # collect longer than that would let the burst end before its digest is sent.
        if self.collect > self.window:
            raise ValueError(
                f"collect ({format_duration(self.collect)}) must not be longer than "
                f"window ({format_duration(self.window)})"
            )
        return self


class StormConfig(StrictModel):
    """When an integration's notifications become a digest (docs/storms-and-quiet-hours.md).

    A storm is at least ``after`` pending notifications that its destination's rate limit
    cannot all let out within ``window``: they are merged into digest messages. A burst
    (``burst``) is more than ``burst.after`` in ``burst.window`` that the rate limit could
    let out: the later ones are collected into a digest. A destination without a rate
    limit (log, email, webhook) has neither. ``enabled: false`` turns both off."""

    enabled: bool = True
    after: int = Field(default=3, ge=2)
    window: Annotated[Duration, within(0.001, 86400)] = 60.0
    burst: BurstConfig = Field(default_factory=BurstConfig)


class ChannelConfig(SecretFieldsModel):
    """Keys every ``*_configs`` entry accepts."""

    kind: ClassVar[str] = ""  # "email", "slack", ...: the integration type in ids and metrics
    #: The storm policy of an entry without ``storm:`` (a channel may set its own).
    storm_default: ClassVar[StormConfig] = StormConfig()
    #: Fields that take a URL or a key the vendor hands out: one of another vendor's
    #: (a DingTalk URL in a WeCom entry) is an error that says where it belongs.
    vendor_fields: ClassVar[tuple[str, ...]] = ()

    send_resolved: bool = True
    locale: Locale | None = Field(default=None, description="overrides global.locale")
    storm: StormConfig | None = Field(default=None, description="storm digests; see docs")

    @field_validator("*")
    @classmethod
    def _vendor_value(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name not in cls.vendor_fields or value is None:
            return value
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        problem = misplaced(cls.kind, info.field_name, text) if isinstance(text, str) else None
        if problem:
            raise ValueError(problem)
        return value

    def storm_policy(self) -> StormConfig:
        return self.storm if self.storm is not None else self.storm_default

    def secrets(self) -> list[str]:
        """Every secret value of this config, for redaction."""
        values: list[str] = []
        for name in self.secret_fields:
            value = getattr(self, name, None)
            if value is not None and hasattr(value, "get_secret_value"):
                values.append(value.get_secret_value())
        return values

    @abc.abstractmethod
    def build(self, ctx: NotifierContext) -> Notifier:
        """The notifier for this entry; built once per config load."""


#: How many messages one notification may become on a channel that splits (WeCom,
#: DingTalk, Feishu, Slack, Teams, Telegram), unless its config says ``max_parts``.
DEFAULT_MAX_PARTS = 10


class PartsConfig(ChannelConfig):
    """A channel that splits a long message into parts: how many it may send at most.
    Past the cap the last part says how many alerts are not shown and links the
    group's page in relay's console (with ``global.external_url`` set)."""

    max_parts: int = Field(
        default=DEFAULT_MAX_PARTS, ge=1, le=100, description="messages per notification at most"
    )


@dataclass(frozen=True)
class Channel:
    """A channel as the rest of relay sees it: its entry in the registry
    (``relay.channels.CHANNELS``), from which the config's ``<kind>_configs`` keys, the
    CLI's ``--channel`` choices, the template names and previews all come."""

    kind: str  # "dingtalk": the integration type in ids, metrics and ``<kind>_configs``
    config: type[ChannelConfig]
    #: Its built-in templates by logical name ("dingtalk.markdown" is
    #: templates/<locale>/dingtalk.markdown.j2); users override them by the same name.
    templates: tuple[str, ...]
    #: Settings that pass validation, to preview the channel with its defaults (nothing
    #: is sent in a preview).
    preview_settings: dict[str, Any] = field(default_factory=dict)
    #: Templates whose output is one line (a subject, a header): newlines are folded.
    single_line: tuple[str, ...] = ()
    #: Templates rendered once per alert, with ``alert`` in their context.
    per_alert: tuple[str, ...] = ()
    #: Config keys that hold a template string, checked at load ("subject").
    template_keys: tuple[str, ...] = ()
    #: Jinja filters for this channel's markup (``lark_md``), available to every
    #: template, built-in or user's, so an override can escape values the same way.
    filters: dict[str, Callable[[Any], str]] = field(default_factory=dict)

    @property
    def field(self) -> str:
        return f"{self.kind}_configs"


@dataclass(frozen=True)
class Message:
    """One delivery attempt's input: the notification and the job it belongs to."""

    job_id: str  # stable across attempts: Idempotency-Key, Message-ID seed
    notification: Notification
    integration: str  # "<receiver>/<type>/<index>"
    attempt: int = 1
    #: Each part waits for its place in the destination's limit (the dispatcher's).
    pace: Pace = field(default=UNPACED, compare=False, repr=False)
    #: Sent once, never retried (test-alert, the console's test send): a part that can
    #: only wait for a later answer by being retried (how a call ended) is left out.
    once: bool = False

    def __post_init__(self) -> None:
        self.notification.for_job(self.job_id)


@dataclass
class Delivery:
    """A successful delivery; ``detail`` notes partial success (recipients refused...).

    ``sent`` is every body this attempt transmitted, exactly as sent (JSON as posted, the
    mail as composed), for the delivery log."""

    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)


@dataclass
class Preview:
    """What a send would transmit, for `relay render` and the console's playground."""

    text: str  # the whole message as shown (JSON indented, or the mail)
    note: str  # one line: what it is, how many parts, their sizes against the limit
    parts: list[str] = field(default_factory=list)  # each part as it would be sent
    sizes: list[int] = field(default_factory=list)  # each part, counted as the vendor does
    limit: int | None = None  # the vendor's limit per part, in ``unit``
    unit: str = ""  # "bytes" or "characters"


def parts_preview(
    kind: str,
    bodies: list[Any],
    sizes: list[int],
    limit: int | None,
    unit: str,
    noun: str = "message",
) -> Preview:
    """The Preview of a channel that posts JSON bodies: all of them, indented."""
    import json

    count = f"{len(bodies)} {noun}{'s' if len(bodies) != 1 else ''}"
    note = f"{kind}: {count}"
    if limit is not None:
        note += f", {unit} {', '.join(map(str, sizes))} (limit {limit})"
    text = json.dumps(bodies, ensure_ascii=False, indent=2)
    parts = [json.dumps(b, ensure_ascii=False, separators=(",", ":")) for b in bodies]
    return Preview(text=text, note=note, parts=parts, sizes=sizes, limit=limit, unit=unit)


class MessageRefs(Protocol):
    """What a notifier remembers between attempts and messages (the parts of a split
    message already delivered, a Slack message to edit when its group resolves): small
    JSON values under a key, each kept for ``ttl`` seconds. Both stores provide it; a
    preview hands in a dict in memory."""

    async def get_ref(self, key: str) -> dict[str, Any] | None: ...

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None: ...


class MemoryRefs:
    """MessageRefs in a dict, for one-off sends and previews that must leave nothing for
    a running relay to read. Values are copied in and out, as a store's JSON would be."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._values: dict[str, tuple[float, dict[str, Any]]] = {}
        self._monotonic = monotonic

    async def get_ref(self, key: str) -> dict[str, Any] | None:
        found = self._values.get(key)
        if found is None or found[0] <= self._monotonic():
            self._values.pop(key, None)
            return None
        return copy.deepcopy(found[1])

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self._values[key] = (self._monotonic() + ttl, copy.deepcopy(value))


@dataclass
class NotifierContext:
    """Everything a notifier may use, handed in (nothing is created at import): what it
    needs of the config (the default locale, whether an Alertmanager API is configured
    for silences) and its I/O."""

    locale: str
    silences: bool
    http: httpx.AsyncClient
    renderer: Renderer
    store: MessageRefs
    timeout: float
    #: ``people:``: each person's name -> their address per channel kind ({"wecom": ...}),
    #: so a ``mention_label`` value that names a person mentions them natively.
    people: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def addresses(self, kind: str) -> dict[str, str]:
        """Person name -> their ``kind`` address, for those who have one."""
        return {name: ids[kind] for name, ids in self.people.items() if kind in ids}


#: A message a notifier renders: a notification job or a digest job.
M = TypeVar("M")


class Notifier(abc.ABC):
    """Sends one message. Returns a Delivery or raises RetryableError / PermanentError.

    Never loops, never sleeps: retrying lives in the dispatcher.
    """

    #: Key shared by every notifier that talks to the same rate-limited destination
    #: (one WeCom robot, one Slack channel); None means not rate limited.
    rate_limit_key: str | None = None
    #: The destination's limits, all enforced (Feishu: 5 per second and 100 per minute).
    rate_limits: tuple[Rate, ...] = ()
    #: How long the vendor blocks a destination that went over its limit (DingTalk: 10
    #: minutes): after a throttle answer the whole destination waits this long.
    throttle_block: float | None = None
    #: When a backlog to this destination is merged into a digest (set from the config).
    storm: StormConfig | None = None

    @abc.abstractmethod
    async def send(self, message: Message) -> Delivery: ...

    @abc.abstractmethod
    def preview(self, message: Message) -> Preview:
        """What ``send(message)`` would transmit, without sending."""

    def messages_for(self, message: Message) -> int:
        """How many messages ``send`` posts (WeCom split parts, Slack posts), so the rate
        limiter counts what the destination counts."""
        return 1

    # -- digests (a storm merged, a hold window's end: relay.core.digests) --------------------

    @abc.abstractmethod
    def digest_bodies(self, digest: Digest) -> list[Any]:
        """The bodies ``digest`` is posted as, in order, each within the vendor's limit
        (render with relay.templating.digest.render_digest and this channel's ``<kind>.digest``)."""

    @abc.abstractmethod
    async def send_digest(self, message: DigestMessage) -> Delivery:
        """Send a digest job (a storm merged, a hold window's end)."""

    def digest_parts(self, message: DigestMessage) -> list[Any]:
        """``digest_bodies`` of a digest job, rendered once: the dispatcher counts them
        for the rate limiter and ``send_digest`` posts them."""
        return self.rendered(message, lambda m: self.digest_bodies(m.digest))

    def digest_messages(self, digest: Digest) -> int:
        """How many posts a digest takes, for the rate limiter."""
        return len(self.digest_bodies(digest))

    def digest_preview(self, digest: Digest, kind: str) -> Preview:
        """What ``send_digest`` would transmit (``kind``: the channel, for the note): the
        bodies, as JSON unless text; a channel with a size limit counts each part."""
        bodies = self.digest_bodies(digest)
        if all(isinstance(b, str) for b in bodies):
            sizes = [len(b.encode("utf-8")) for b in bodies]
            return Preview(
                text="\n\n".join(bodies),
                parts=list(bodies),
                sizes=sizes,
                unit="bytes",
                note=f"{kind} digest: {len(bodies)} part{'s' if len(bodies) != 1 else ''}",
            )
        return parts_preview(f"{kind} digest", bodies, [], None, "", noun="part")

    def prepare(self, message: Message | DigestMessage) -> None:
        """Do the costly part of sending ``message`` (rendering, splitting) ahead of
        ``send``, which then finds it done. The dispatcher calls this in a worker thread,
        so a group of 10,000 alerts never holds the event loop; it must not touch the
        loop (no awaiting, no HTTP)."""
        if isinstance(message, Message):
            self.messages_for(message)
        else:
            self.digest_parts(message)

    def rendered(self, message: M, render: Callable[[M], list[Any]]) -> list[Any]:
        """``render(message)``, once per message: ``prepare`` renders in a worker thread
        and ``send`` then posts what it rendered. A few messages are kept, as several
        jobs of one integration may be prepared at once."""
        cache: dict[int, tuple[object, list[Any]]] | None = getattr(self, "_rendered", None)
        if cache is None:
            cache = {}
            self._rendered = cache
        found = cache.get(id(message))
        if found is not None and found[0] is message:
            return found[1]
        bodies = render(message)
        if len(cache) >= RENDERED_KEPT:
            cache.pop(next(iter(cache)))
        cache[id(message)] = (message, bodies)
        return bodies

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most notifiers hold nothing
        """Release resources (SMTP connections, SDK clients)."""


#: Rendered messages a notifier keeps between ``prepare`` and ``send`` (the dispatcher's
#: workers prepare at most this many jobs of one integration at once, in practice).
RENDERED_KEPT = 16


def destination_key(kind: str, where: str) -> str:
    """The rate-limit key of the destination ``where`` (a URL, an API base and a chat):
    a hash, so the key (in logs and metrics) never holds a secret."""
    return f"{kind}:{hashlib.sha256(where.encode()).hexdigest()[:16]}"
