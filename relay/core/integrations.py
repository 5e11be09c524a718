"""Integration ids: ``<receiver>/<kind>/<index>`` ('oncall/wecom/0'), one channel entry of
one receiver. The id is read from the right, so a receiver name may hold '/'."""

from __future__ import annotations

from dataclasses import dataclass

from relay.core.text import ascii_int


@dataclass(frozen=True)
class IntegrationId:
    receiver: str
    kind: str  # the channel ("wecom")
    index: int  # its place among the receiver's entries of that channel

    def __str__(self) -> str:
        return f"{self.receiver}/{self.kind}/{self.index}"

    @property
    def entry(self) -> str:
        """'wecom/0': the id within its receiver."""
        return f"{self.kind}/{self.index}"

    @classmethod
    def parse(cls, text: str) -> IntegrationId | None:
        """The id ``text`` names, or None when it is not of that shape."""
        receiver, _, rest = text.rpartition("/")
        receiver, _, kind = receiver.rpartition("/")
        index = ascii_int(rest, most_digits=9)
        if not kind or index is None:
            return None
        return cls(receiver, kind, index)


def kind_of(integration: str, unknown: str = "unknown") -> str:
    """The channel of an integration id ('wecom'), ``unknown`` when it is not an id."""
    parsed = IntegrationId.parse(integration)
    return parsed.kind if parsed is not None else unknown
