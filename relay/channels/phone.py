"""What every voice and SMS channel shares: whom it calls, what it says, and how often.

- **Whom.** The config's ``to`` numbers and, for an escalation step, the phones
  (``people[].phone``) of the people the step pages. Each number once, firing messages
  only: a resolved group never calls.
- **What.** The channel's ``<kind>.params`` template renders one line per vendor
  template variable, in order (``{1}``, ``{2}``, ...). Each line is cut to
  ``param_limit`` characters, on a character boundary.
- **How often.** One call (or SMS) per number per message. Outside escalation steps, a
  number is not called again for the same group within ``min_interval``. Each number is
  a part of the message, so a retry resumes after the numbers already called.
- **Personal data.** Numbers are masked wherever relay shows a body (``+86138****0001``):
  the delivery log, previews and errors.
"""

from __future__ import annotations

import abc
import re
from typing import Annotated, Any, TypeVar

from pydantic import Field, field_validator

from relay.channels.base import (
    ChannelConfig,
    Message,
    NotifierContext,
    Preview,
    destination_key,
    parts_preview,
)
from relay.channels.parts import PostingNotifier
from relay.core.alerts import Notification
from relay.core.digests import Digest
from relay.core.durations import Duration, within
from relay.core.rates import Rate
from relay.core.secrets import mask_phone
from relay.templating.digest import render_digest

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NUMBER = re.compile(r"\+[0-9]{7,15}")


class PhoneConfig(ChannelConfig):
    """The settings every voice and SMS channel has."""

    #: The vendor's endpoint (each channel has its own default), or a proxy or a fake.
    api_url: str
    to: list[str] = Field(default_factory=list)
    #: Not the same group to the same number again within this (escalation steps aside).
    min_interval: Annotated[Duration, within(0, 86400)] = 600.0
    #: Each template variable's limit in characters (the vendor's default when unset).
    param_limit: int | None = Field(default=None, ge=1, le=500)
    rate_limit_per_minute: float = Field(default=30.0, gt=0)

    def without_external_url(self) -> tuple[str, str] | None:
        """(setting, what is lost) when ``global.external_url`` is not set; None when
        the channel does not need it."""
        return None

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be a URL starting with https://")
        return value.rstrip("/")

    @field_validator("to")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not E164.match(v)]
        if bad:
            shown = ", ".join(mask_phone(v) for v in bad)[:200]
            raise ValueError(f"not E.164 numbers: {shown} (write them like +8613800000001)")
        return value


def recipients(
    config_to: list[str], n: Notification, ctx: NotifierContext, *, resolved: bool = False
) -> list[str]:
    """The numbers to call for ``n``: the config's, then the phones of the people an
    escalation step pages; none when nothing fires, unless ``resolved`` (an SMS channel
    that sends resolved groups: to the config's numbers)."""
    if not n.firing:
        return list(config_to) if resolved else []
    phones = ctx.addresses("phone")
    paged = [phones[p] for p in n.escalation.people if p in phones] if n.escalation is not None else []
    return list(dict.fromkeys([*config_to, *paged]))


def template_lines(text: str) -> list[str]:
    """Template variables from rendered text, uncut: one per non-empty line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def cut_params(text: str, limit: int) -> list[str]:
    """Template variables from rendered text: one per non-empty line, each at most
    ``limit`` characters (a character is a code point, as the vendors count: 磁 is one)."""
    return [line[:limit] for line in template_lines(text)]


def mask_numbers(value: Any) -> Any:
    """``value`` (a body) with every phone number in it masked."""
    if isinstance(value, str):
        return _NUMBER.sub(lambda m: mask_phone(m.group(0)), value)
    if isinstance(value, list):
        return [mask_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_numbers(v) for k, v in value.items()}
    return value


P = TypeVar("P", bound=PhoneConfig)
#: The medium of a request not sent, with its ``reason`` (a number the vendor cannot call).
SKIP = "skip"
#: The medium of a part that asks how the call of the part before it ended (a vendor
#: whose answer has to be asked for); its result's ``call`` goes on the group's timeline.
CHECK = "check"


class PhoneNotifier(PostingNotifier[P]):
    """One vendor request per number and medium, each a part (a retry resumes after the
    numbers done). A vendor's channel says what a request is (``requests``) and how it
    is sent (``deliver``); whom, the variables, ``min_interval`` and masking are here."""

    #: The vendor's limit of a template variable (characters), when param_limit is unset.
    default_param_limit = 20
    #: What the channel does for a resolved group: voice never calls; SMS may send.
    sends_resolved = False

    def __init__(self, config: P, ctx: NotifierContext) -> None:
        super().__init__(config, ctx)
        self.rate_limit_key = destination_key(config.kind, self.account())
        self.rate_limits = (Rate.per_minute(config.rate_limit_per_minute),)

    @abc.abstractmethod
    def account(self) -> str:
        """What the vendor's rate limits count against (the API and the app or account):
        the notifiers of one share a limiter and ``min_interval``."""

    @property
    def param_limit(self) -> int:
        return self._cfg.param_limit or self.default_param_limit

    @abc.abstractmethod
    def requests(
        self, number: str, params: list[str], message: Message | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """(medium, vendor request) for one number: a call ("call"), a message ("sms"),
        or both; ``message`` is None for a digest."""

    @abc.abstractmethod
    async def deliver(self, number: str, medium: str, request: dict[str, Any], job: str) -> dict[str, Any]:
        """Send one request of job ``job`` ('' for a digest); returns what to keep of the
        answer (the call or message id)."""

    def rendered_params(self, message: Message) -> str:
        n = message.notification
        return self._ctx.renderer.render(f"{self._cfg.kind}.params", n, locale=self._locale)

    def _bodies(
        self, numbers: list[str], text: str, group: str, step: bool, message: Message | None
    ) -> list[dict[str, Any]]:
        params = cut_params(text, self.param_limit)
        job = message.job_id if message is not None else ""
        return [
            {
                "to": number,
                "group": group,
                "escalation": step,
                "medium": medium,
                "request": request,
                "job": job,
            }
            for number in numbers
            for medium, request in self.requests(number, params, message)
        ]

    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        n = message.notification
        numbers = recipients(self._cfg.to, n, self._ctx, resolved=self.sends_resolved)
        if not numbers:
            return []
        return self._bodies(
            numbers, self.rendered_params(message), n.group_key, n.escalation is not None, message
        )

    def digest_bodies(self, digest: Digest) -> list[dict[str, Any]]:
        """A storm: one request per configured number, with the digest's lines."""
        texts = render_digest(
            self._ctx.renderer, f"{self._cfg.kind}.digest", digest, locale=self._locale, limit=None
        )
        return self._bodies(list(self._cfg.to), texts[0] if texts else "", "digest", False, None)

    def shown(self, body: dict[str, Any]) -> dict[str, Any]:
        masked: dict[str, Any] = mask_numbers(body)
        return masked

    def preview(self, message: Message) -> Preview:
        """The bodies, and each template variable's length against ``param_limit`` (and
        how long it was before it was cut)."""
        bodies = self.render_parts(message)
        shown = parts_preview(self._cfg.kind, [self.shown(b) for b in bodies], [], None, "", noun=self.noun)
        if bodies:
            limit = self.param_limit
            sizes = [
                f"{{{i}}} {min(len(v), limit)}" + (f" (cut from {len(v)})" if len(v) > limit else "")
                for i, v in enumerate(template_lines(self.rendered_params(message)), 1)
            ]
            shown.note += f"; variables in characters: {', '.join(sizes)} (param_limit {limit})"
        return shown

    async def _post(self, body: dict[str, Any]) -> Any:
        number, group, medium = str(body["to"]), str(body["group"]), str(body["medium"])
        seen = f"phone:{self._cfg.kind}:{medium}:{self.rate_limit_key}:{group}:{number}"
        if medium == SKIP:  # a number this vendor cannot reach: said in the delivery's results
            return {"to": mask_phone(number), "skipped": str(body["request"].get("reason", ""))}
        if medium == CHECK:  # how an earlier part's call ended: no call of its own
            return {
                "to": mask_phone(number),
                **await self.deliver(number, medium, body["request"], body["job"]),
            }
        if not body["escalation"] and await self._ctx.store.get_ref(seen) is not None:
            return {"to": mask_phone(number), "skipped": "sent within min_interval"}
        kept = await self.deliver(number, medium, body["request"], str(body.get("job", "")))
        if self._cfg.min_interval:
            await self._ctx.store.set_ref(seen, {"group": group}, self._cfg.min_interval)
        return {"to": mask_phone(number), **kept}
