"""The channel registry: one module per channel, each exporting ``CHANNELS``.

Adding a channel is adding its module's name to ``CHANNEL_MODULES``: the config's
``<kind>_configs`` keys, the CLI's ``--channel`` choices, ``relay render``'s previews and
the built-in template names all come from :data:`CHANNELS`.
"""

from __future__ import annotations

import importlib

from relay.channels.base import Channel, ChannelConfig

#: Modules under relay.channels, in the order their keys appear in docs and listings.
CHANNEL_MODULES = (
    "log", "email", "slack", "wecom", "dingtalk", "feishu", "webhook", "msteams", "telegram",
)


def _load() -> tuple[Channel, ...]:
    found: list[Channel] = []
    for name in CHANNEL_MODULES:
        module = importlib.import_module(f"relay.channels.{name}")
        found.extend(module.CHANNELS)
    kinds = [channel.kind for channel in found]
    duplicated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
    if duplicated:
        raise RuntimeError(f"channel kinds registered twice: {', '.join(duplicated)}")
    return tuple(found)


CHANNELS: tuple[Channel, ...] = _load()
#: kind ("wecom") -> its registry entry.
CHANNELS_BY_KIND: dict[str, Channel] = {channel.kind: channel for channel in CHANNELS}
#: ``<kind>_configs`` receiver key -> the config class of its entries.
CHANNEL_TYPES: dict[str, type[ChannelConfig]] = {c.field: c.config for c in CHANNELS}
#: Every built-in template's logical name.
TEMPLATE_NAMES: tuple[str, ...] = tuple(name for c in CHANNELS for name in c.templates)
#: Templates whose output is folded to one line.
SINGLE_LINE_TEMPLATES: frozenset[str] = frozenset(n for c in CHANNELS for n in c.single_line)

__all__ = [
    "CHANNELS",
    "CHANNELS_BY_KIND",
    "CHANNEL_MODULES",
    "CHANNEL_TYPES",
    "SINGLE_LINE_TEMPLATES",
    "TEMPLATE_NAMES",
    "Channel",
    "ChannelConfig",
]
