"""Alertmanager's matcher syntax and route tree.

A matcher is ``name op value`` with op one of ``=``, ``!=``, ``=~``, ``!~``; the value is
bare or double-quoted with ``\\"``, ``\\\\`` and ``\\n`` escapes. Regexes are anchored
as Alertmanager anchors them: ``^(?:value)$``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from relay.config import RouteConfig

Op = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(
    r"""^\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$""",
    re.S,
)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}

# Alertmanager's defaults for the root route.
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


def _unquote(text: str) -> str:
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        if '"' in text:
            raise ValueError(f"unbalanced quotes in value {text!r}")
        return text
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise ValueError(f"invalid escape in value {text!r} (use \\\", \\\\ or \\n)")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if ch == '"':
            raise ValueError(f"unescaped quote inside value {text!r}")
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: dict[str, str]) -> bool:
        # A missing label matches as the empty string, as in Alertmanager.
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.match(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def make_matcher(name: str, op: Op, value: str) -> Matcher:
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(f"^(?:{value})$")
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from None
    return Matcher(name, op, value, pattern)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher; ValueError says what is wrong in words a user can act on."""
    match = _MATCHER.match(text)
    if match is None:
        if re.match(r"^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=>|==|<|>|~=|!)", text):
            raise ValueError(f"unknown operator in {text!r} (use =, !=, =~ or !~)")
        raise ValueError(f"invalid matcher {text!r}: expected name, operator (=, !=, =~, !~) and value")
    op, raw = match.group("op"), match.group("value")
    if op in ("=", "!=") and raw[:1] in ("=", ">", "<", "~"):
        raise ValueError(f"unknown operator '{op}{raw[0]}' in {text!r} (use =, !=, =~ or !~)")
    value = _unquote(raw)
    return make_matcher(match.group("name"), op, value)  # type: ignore[arg-type]


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
    group_by = config.group_by if config.group_by is not None else (
        list(parent.group_by) + (["..."] if parent.group_by_all else []) if parent else []
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
    )
    route.routes = [_build(child, route, f"{route_id}.{i}") for i, child in enumerate(config.routes)]
    return route


def _inherit(own: float | None, parent: float | None, default: float) -> float:
    if own is not None:
        return own
    return parent if parent is not None else default
