"""What the console shows of the running config: the route tree, a routes test, and the
config itself with every secret replaced (plain JSON-ready dicts, like queries.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from relay.channels.phone import E164
from relay.core.secrets import mask_phone, redact
from relay.pipeline.route_report import report_route
from relay.pipeline.routing import Route
from relay.web.console.errors import BadRequest, Conflict, ConsoleError, NotFound, ReadOnly

if TYPE_CHECKING:
    from relay.web.state import RelayState

__all__ = ["BadRequest", "Conflict", "ConsoleError", "NotFound", "ReadOnly"]


# -- routes and config --------------------------------------------------------------------
def _route_view(route: Route) -> dict[str, Any]:
    return {
        "id": route.id,
        "receiver": route.receiver,
        "matchers": [str(m) for m in route.matchers],
        "group_by": [*route.group_by, *(["..."] if route.group_by_all else [])],
        "passthrough": route.passthrough,
        "group_wait": route.group_wait,
        "group_interval": route.group_interval,
        "repeat_interval": route.repeat_interval,
        "continue": route.continue_,
        "mute_time_intervals": list(route.mute_time_intervals),
        "active_time_intervals": list(route.active_time_intervals),
        "hold_time_intervals": list(route.hold_time_intervals),
        "escalation": route.escalation,
        "routes": [_route_view(child) for child in route.routes],
    }


def routes(state: RelayState) -> dict[str, Any]:
    return {"tree": _route_view(state.runtime.tree)}


def routes_test(state: RelayState, labels: Any, at: float | None = None) -> dict[str, Any]:
    """The receivers alerts with ``labels`` reach, and for each route reached what
    ``relay routes test`` prints: the first notification's wait, the time intervals
    in force at ``at`` (now) and until when."""
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in labels.items()
    ):
        raise BadRequest(
            "labels: expected an object of label names to string values "
            '({"alertname": "Disk", "severity": "critical"})'
        )
    reached = state.runtime.tree.match(labels)
    receivers: list[str] = []
    for route in reached:
        if route.receiver not in receivers:
            receivers.append(route.receiver)
    config = state.runtime.config
    when = state.clock.now() if at is None else at
    intervals = config.interval_specs()
    reports = [report_route(r, intervals, when, config.global_.timezone).to_dict() for r in reached]
    return {"receivers": receivers, "at": when, "routes": reports}


SECRET = "<secret>"


def _secretless(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return SECRET
    if isinstance(value, dict):
        return {k: _secretless(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_secretless(v) for v in value]
    return value


def config_view(state: RelayState, *, durations_as_text: bool = False) -> dict[str, Any]:
    """The effective config (defaults filled in); every secret is ``<secret>``, and a
    password in storage.url too. Durations are seconds, or (``durations_as_text``, for a
    person) written as in the file: ``4h`` rather than ``14400.0``."""
    config = state.runtime.config
    context = {"durations": "text"} if durations_as_text else None
    data = _secretless(config.model_dump(mode="python", by_alias=True, context=context))
    data["storage"]["url"] = redact(config.storage.url).replace("<redacted>", SECRET)
    # People's numbers are shown masked, as everywhere: a phone, a DingTalk mobile.
    for person in data.get("people", []):
        if person.get("phone"):
            person["phone"] = mask_phone(person["phone"])
        ids = person.get("ids") or {}
        if str(ids.get("dingtalk", "")).lstrip("+").isdigit():
            ids["dingtalk"] = mask_phone(ids["dingtalk"])
    # And the numbers voice and SMS channels call.
    for receiver in data.get("receivers", []):
        for key, entries in receiver.items():
            for entry in entries if key.endswith("_configs") and isinstance(entries, list) else []:
                numbers = entry.get("to") if isinstance(entry, dict) else None
                if isinstance(numbers, list):
                    entry["to"] = [mask_phone(v) if E164.match(str(v)) else v for v in numbers]

    return {
        "source": config.source,
        "hash": config.digest,
        # Through JSON once: durations and paths become what the API sends.
        "config": json.loads(json.dumps(data, default=str)),
    }
