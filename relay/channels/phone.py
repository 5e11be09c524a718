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

import re
from typing import Annotated, Any

from pydantic import Field, field_validator

from relay.channels.base import ChannelConfig, NotifierContext
from relay.core.alerts import Notification
from relay.core.durations import Duration, within
from relay.core.secrets import mask_phone

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NUMBER = re.compile(r"\+[0-9]{7,15}")


class PhoneConfig(ChannelConfig):
    """The settings every voice and SMS channel has."""

    to: list[str] = Field(default_factory=list)
    #: Not the same group to the same number again within this (escalation steps aside).
    min_interval: Annotated[Duration, within(0, 86400)] = 600.0
    #: Each template variable's limit in characters (the vendor's default when unset).
    param_limit: int | None = Field(default=None, ge=1, le=500)
    rate_limit_per_minute: float = Field(default=30.0, gt=0)

    @field_validator("to")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not E164.match(v)]
        if bad:
            shown = ", ".join(mask_phone(v) for v in bad)[:200]
            raise ValueError(f"not E.164 numbers: {shown} (write them like +8613800000001)")
        return value


def recipients(config_to: list[str], n: Notification, ctx: NotifierContext) -> list[str]:
    """The numbers to call for ``n``: the config's, then the phones of the people an
    escalation step pages; none when nothing fires."""
    if not n.firing:
        return []
    phones = ctx.addresses("phone")
    paged = [phones[p] for p in n.escalation.people if p in phones] if n.escalation is not None else []
    return list(dict.fromkeys([*config_to, *paged]))


def cut_params(text: str, limit: int) -> list[str]:
    """Template variables from rendered text: one per non-empty line, each at most
    ``limit`` characters."""
    return [line.strip()[:limit] for line in text.splitlines() if line.strip()]


def mask_numbers(value: Any) -> Any:
    """``value`` (a body) with every phone number in it masked."""
    if isinstance(value, str):
        return _NUMBER.sub(lambda m: mask_phone(m.group(0)), value)
    if isinstance(value, list):
        return [mask_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_numbers(v) for k, v in value.items()}
    return value
