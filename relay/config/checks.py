"""What the config loader checks outside the models: environment references, and the
references between sections (receiver names, routes, matchers, time intervals).

Both read the raw mapping, so they report their problems also when another part of the
file does not validate; each problem is a Finding, ``(place, what)``.
"""

from __future__ import annotations

import re
from typing import Any

from relay.core.said import Said

Loc = tuple[int | str, ...]
Finding = tuple[Loc, str]  # where, what

# `$$`, `${VAR}`, `${VAR:-default}`, and a bare `$VAR`, which is not expanded.
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
#: A bare `$NAME` inside a longer value that looks like an environment variable. Lower
#: case (`$labels` in a template, `pa$sword`) is left alone.
_ENV_LIKE = re.compile(r"^[A-Z_][A-Z0-9_]+$")


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


def expand_env(
    node: Any, loc: Loc, env: dict[str, str], problems: list[Finding], warnings: list[Finding]
) -> Any:
    if isinstance(node, dict):
        return {k: expand_env(v, (*loc, str(k)), env, problems, warnings) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, (*loc, i), env, problems, warnings) for i, v in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "$$":
            return "$"
        bare = match.group(3)
        if bare is not None:
            literal = Said(
                f"{text!r} is sent as written: relay expands only ${{{bare}}} "
                f"(write ${{{bare}}}, or $${bare} for a literal '$')",
                f"{text!r} 会原样发送：relay 只展开 ${{{bare}}} 这种写法"
                f"（请写成 ${{{bare}}}；要写字面的 '$' 就写 $${bare}）",
            )
            if text == node:  # nothing but a reference: it was meant to be expanded
                problems.append((loc, literal))
            elif _ENV_LIKE.match(bare):
                warnings.append((loc, literal))
            return text
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            (loc, f"environment variable {name} is not set (set it, or write ${{{name}:-default}})")
        )
        return ""

    return _ENV_REF.sub(substitute, node)


def _names(raw: dict[str, Any], section: str, what: str, problems: list[Finding]) -> dict[str, int]:
    """The ``name`` of each entry of list ``section`` -> its first index; a name given
    again is a problem naming where it was first."""
    first: dict[str, int] = {}
    entries = raw.get(section)
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            continue
        if name in first:
            problems.append(
                ((section, index, "name"), f"duplicate {what} {name!r} (first at {section}[{first[name]}])")
            )
        first.setdefault(name, index)
    return first


def _silent_receivers(raw: dict[str, Any]) -> set[str]:
    """Receivers with no integration at all (Alertmanager's "null" receiver)."""
    found: set[str] = set()
    receivers = raw.get("receivers")
    for receiver in receivers if isinstance(receivers, list) else []:
        if (
            isinstance(receiver, dict)
            and isinstance(receiver.get("name"), str)
            and not any(key.endswith("_configs") and value for key, value in receiver.items())
        ):
            found.add(receiver["name"])
    return found


def cross_check(raw: dict[str, Any]) -> list[Finding]:
    """Checks that span sections: receiver names, route references, matchers.

    They read the raw (expanded) mapping, not the validated Config, so that they run
    also when some other section is invalid; a value of the wrong type is skipped
    (the schema reports it).
    """
    from relay.config.escalations import escalation_problems
    from relay.config.heartbeats import heartbeat_problems
    from relay.config.oncall import oncall_problems
    from relay.core.matchers import compile_regex, parse_matcher

    problems: list[Finding] = []
    seen = _names(raw, "receivers", "receiver name", problems)
    intervals = _names(raw, "time_intervals", "time interval name", problems)
    people = _names(raw, "people", "person", problems)
    schedules = _names(raw, "schedules", "schedule name", problems)
    policies = _names(raw, "escalation_policies", "escalation policy name", problems)
    problems += oncall_problems(raw, set(people), set(intervals))
    silent = _silent_receivers(raw)
    problems += escalation_problems(raw, set(people), set(schedules), set(seen), silent)
    problems += heartbeat_problems(raw, set(seen), set(policies))

    route = raw.get("route")
    if not isinstance(route, dict):
        return problems
    if route.get("receiver") is None:
        problems.append((("route", "receiver"), "the root route needs a receiver"))

    def walk(node: dict[str, Any], where: Loc, inherited: Any = None) -> None:
        receiver = node.get("receiver")
        route_receiver = receiver if isinstance(receiver, str) else inherited
        if isinstance(receiver, str) and receiver not in seen:
            problems.append(
                (
                    (*where, "receiver"),
                    f"unknown receiver {receiver!r} (known: {', '.join(sorted(seen)) or 'none'})",
                )
            )
        matchers = node.get("matchers")
        for i, text in enumerate(matchers if isinstance(matchers, list) else []):
            try:
                parse_matcher(text) if isinstance(text, str) else None
            except ValueError as exc:
                problems.append(((*where, "matchers", i), str(exc)))
        match_re = node.get("match_re")
        for name, pattern in match_re.items() if isinstance(match_re, dict) else ():
            try:
                compile_regex(pattern) if isinstance(pattern, str) else None
            except ValueError as exc:
                problems.append(((*where, "match_re", str(name)), str(exc)))
        for key in ("mute_time_intervals", "active_time_intervals", "hold_time_intervals"):
            names = node.get(key)
            for i, name in enumerate(names if isinstance(names, list) else []):
                if isinstance(name, str) and name not in intervals:
                    problems.append(
                        (
                            (*where, key, i),
                            f"unknown time interval {name!r} "
                            f"(known: {', '.join(sorted(intervals)) or 'none'}; "
                            "define it under time_intervals)",
                        )
                    )
        escalation = node.get("escalation")
        if isinstance(escalation, str):
            if escalation not in policies:
                problems.append(
                    (
                        (*where, "escalation"),
                        f"unknown escalation policy {escalation!r} "
                        f"(known: {', '.join(sorted(policies)) or 'none'};"
                        " define it under escalation_policies)",
                    )
                )
            elif route_receiver in silent:
                problems.append(
                    (
                        (*where, "escalation"),
                        f"receiver {route_receiver!r} has no integrations: an escalation through it"
                        " would page no one",
                    )
                )
        children = node.get("routes")
        for i, child in enumerate(children if isinstance(children, list) else []):
            if isinstance(child, dict):
                walk(child, (*where, "routes", i), route_receiver)

    walk(route, ("route",))
    return problems


def grouping_warnings(raw: dict[str, Any]) -> list[Finding]:
    """A route that regroups (``group_by``) with no ``group_wait`` set on it or above: the
    default 30s comes on top of Alertmanager's own group_wait, and the first page waits
    both (60s with both defaults). Setting group_wait, even to 30s, says it is meant."""
    found: list[Finding] = []

    def walk(route: Any, loc: Loc, wait_set: bool) -> None:
        if not isinstance(route, dict):
            return
        wait_set = wait_set or route.get("group_wait") is not None
        if route.get("group_by") and not wait_set:
            found.append(
                (
                    (*loc, "group_by"),
                    Said(
                        "relay groups these alerts again after Alertmanager's group_wait, and waits its "
                        "own group_wait (30s by default) on top: the first page comes after both (1m "
                        "with both defaults). Let one side group: remove group_by, or set group_wait "
                        "here (0s when Alertmanager's wait is enough)",
                        "Alertmanager 等完它的 group_wait 之后，relay 又按 group_by 重新分组，并再等自己的 "
                        "group_wait（默认 30s）：第一条通知要等两者之和（都用默认值时为 1m）。只让一方分组："
                        "删除 group_by，或在这里设置 group_wait（Alertmanager 的等待已足够时设为 0s）",
                    ),
                )
            )
        children = route.get("routes")
        for index, child in enumerate(children if isinstance(children, list) else []):
            walk(child, (*loc, "routes", index), wait_set)

    walk(raw.get("route"), ("route",), False)
    return found
