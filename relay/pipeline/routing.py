"""Alertmanager's route tree: which routes an alert's labels match, with the timers and
grouping each route inherits (matchers: relay.core.matchers)."""

from __future__ import annotations

from dataclasses import dataclass

from relay.config.sections import RouteConfig
from relay.core.matchers import Matcher, make_matcher, parse_matcher

# Alertmanager's defaults for the root route.
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass
class Route:
    """A resolved route: everything inherited is filled in."""

    id: str
    receiver: str
    group_by: tuple[str, ...]
    group_by_all: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    matchers: tuple[Matcher, ...]
    continue_: bool
    routes: list[Route]
    # Names of time intervals; never inherited, as in Alertmanager.
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    hold_time_intervals: tuple[str, ...] = ()
    # The escalation policy's name; not inherited either.
    escalation: str | None = None

    @property
    def passthrough(self) -> bool:
        """No group_by: Alertmanager's own groups are passed through."""
        return not self.group_by and not self.group_by_all

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def match(self, labels: dict[str, str]) -> list[Route]:
        """Alertmanager's Route.Match: the deepest matching routes, honouring continue."""
        if not self.matches(labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            reached = child.match(labels)
            found.extend(reached)
            if reached and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if self.group_by_all:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}

    def walk(self) -> list[Route]:
        out = [self]
        for child in self.routes:
            out.extend(child.walk())
        return out


def build_route_tree(config: RouteConfig) -> Route:
    """The route tree with inheritance applied. ``config`` must have passed cross-checks."""
    return _build(config, None, "0")


def _build(config: RouteConfig, parent: Route | None, route_id: str) -> Route:
    matchers = [parse_matcher(m) for m in config.matchers]
    matchers += [make_matcher(k, "=", v) for k, v in sorted(config.match.items())]
    matchers += [make_matcher(k, "=~", v) for k, v in sorted(config.match_re.items())]
    group_by = (
        config.group_by
        if config.group_by is not None
        else (list(parent.group_by) + (["..."] if parent.group_by_all else []) if parent else [])
    )
    route = Route(
        id=route_id,
        receiver=config.receiver or (parent.receiver if parent else ""),
        group_by=tuple(sorted(name for name in set(group_by) if name != "...")),
        group_by_all="..." in group_by,
        group_wait=_inherit(config.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT),
        group_interval=_inherit(
            config.group_interval, parent.group_interval if parent else None, DEFAULT_GROUP_INTERVAL
        ),
        repeat_interval=_inherit(
            config.repeat_interval, parent.repeat_interval if parent else None, DEFAULT_REPEAT_INTERVAL
        ),
        matchers=tuple(matchers),
        continue_=config.continue_,
        routes=[],
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
        hold_time_intervals=tuple(config.hold_time_intervals),
        escalation=config.escalation,
    )
    route.routes = [_build(child, route, f"{route_id}.{i}") for i, child in enumerate(config.routes)]
    return route


def _inherit(own: float | None, parent: float | None, default: float) -> float:
    if own is not None:
        return own
    return parent if parent is not None else default
