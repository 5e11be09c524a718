"""The channel registry: one module per channel, each exporting ``CHANNELS``.

Adding a channel is adding its module's name to ``CHANNEL_MODULES``: the config's
``<kind>_configs`` keys, the CLI's ``--channel`` choices, ``relay render``'s previews and
the built-in template names all come from :data:`CHANNELS`.
"""

from __future__ import annotations

import importlib

from relay.channels.base import Channel, ChannelConfig
from relay.core.clock import Clock
from relay.obs.metrics import Metrics
from relay.templating.engine import Renderer, RenderSettings, TemplateCatalogue

#: Modules under relay.channels, in the order their keys appear in docs and listings.
CHANNEL_MODULES = (
    "log",
    "email",
    "slack",
    "wecom",
    "wecom_app",
    "dingtalk",
    "feishu",
    "feishu_app",
    "webhook",
    "msteams",
    "telegram",
    "tencent_voice",
    "tencent_sms",
    "aliyun_voice",
    "aliyun_sms",
    "twilio",
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

#: What the renderer knows of the channels: their built-in templates and filters.
TEMPLATE_CATALOGUE = TemplateCatalogue(
    all=TEMPLATE_NAMES,
    single_line=SINGLE_LINE_TEMPLATES,
    per_alert=frozenset(n for c in CHANNELS for n in c.per_alert),
    filters={name: f for c in CHANNELS for name, f in c.filters.items()},
)


def make_renderer(
    config: RenderSettings, metrics: Metrics | None = None, *, clock: Clock | None = None
) -> Renderer:
    """The renderer for ``config`` with every channel's built-in templates and filters."""
    return Renderer(config, TEMPLATE_CATALOGUE, metrics, clock=clock)


__all__ = [
    "CHANNELS",
    "CHANNELS_BY_KIND",
    "CHANNEL_MODULES",
    "CHANNEL_TYPES",
    "SINGLE_LINE_TEMPLATES",
    "TEMPLATE_CATALOGUE",
    "TEMPLATE_NAMES",
    "Channel",
    "ChannelConfig",
    "make_renderer",
]
