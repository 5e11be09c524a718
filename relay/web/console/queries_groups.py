"""What the console shows of groups and of the webhooks relay kept, and the template
playground's render and Send test over them (plain JSON-ready dicts, like queries.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from relay.core import silence_links
from relay.core.alerts import common_items
from relay.core.digests import DIGEST_KINDS
from relay.core.groups import GroupState
from relay.core.jobs import Job
from relay.pipeline import acks
from relay.pipeline.routing import Route
from relay.store.base import JobQuery, KeptWebhook
from relay.web.console.cursor import (
    BadCursor,
    decode_group_cursor,
    encode_group_cursor,
)
from relay.web.console.errors import BadRequest, Conflict, ConsoleError, NotFound, ReadOnly
from relay.web.console.playground import render_parts, send_one
from relay.web.console.queries import summary, writable

if TYPE_CHECKING:
    from relay.web.state import RelayState

__all__ = ["BadRequest", "Conflict", "ConsoleError", "NotFound", "ReadOnly"]


# -- groups -----------------------------------------------------------------------------
def _group_summary(group: GroupState) -> dict[str, Any]:
    return {
        "key": group.key,
        "receiver": group.receiver,
        "route_id": group.route_id,
        "labels": group.labels,
        "alerts": len(group.alerts),
        "firing": group.firing_count(),
        "created_at": group.created_at,
        "updated_at": group.updated_at,
        "next_flush_at": group.next_flush_at,
        "id": acks.group_id(group.key),
        # Acknowledged: no repeat until the group's firing alerts change.
        "acknowledged": (
            {"by": group.ack.get("by"), "at": group.ack.get("at"), "via": group.ack.get("via", "slack")}
            if group.ack is not None
            else None
        ),
        # hold_time_intervals: integrations whose notification waits for the window's end.
        "held": sorted(group.held),
        "held_until": group.held_until,
    }


async def groups(
    state: RelayState, cursor: str | None, limit: int, receiver: str | None = None
) -> dict[str, Any]:
    after = None
    if cursor:
        try:
            after = decode_group_cursor(cursor)
        except BadCursor as exc:
            raise BadRequest(f"cursor: {exc}") from None
    found, next_key = await state.delivery_log.list_groups(after, limit, receiver)
    return {
        "groups": [_group_summary(g) for g in found],
        "next_cursor": encode_group_cursor(next_key) if next_key is not None else None,
    }


def silence_url(external_url: str, group: GroupState) -> str | None:
    """Alertmanager's new-silence form for the group, or None without its URL: the link
    the group's messages carry (relay.core.silence_links, the same matchers in the same
    order), on the group's labels or, for a group without any (``group_by: []``), the
    labels all its alerts share."""
    labels = group.labels or common_items([dict(alert.get("labels", {})) for alert in group.alerts.values()])
    return silence_links.silence_url(labels, external_url) or None


def _alert_view(fingerprint: str, alert: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "status": alert.get("status"),
        "labels": alert.get("labels", {}),
        "annotations": alert.get("annotations", {}),
        "startsAt": alert.get("startsAt"),
        "endsAt": alert.get("endsAt"),
        "generatorURL": alert.get("generatorURL", ""),
    }


async def group(state: RelayState, key: str) -> dict[str, Any]:
    found = await state.delivery_log.get_group(key)
    if found is None:
        raise NotFound(f"no group {key!r}")
    route: Route = state.runtime.route_for(found.route_id)
    recent = await state.delivery_log.query_jobs(JobQuery(group_key=key, limit=100))
    last_job: dict[str, Job] = {}
    for job in recent.jobs:  # newest first: the first of each integration is its last
        last_job.setdefault(job.integration, job)
    ids = [p.id for p in state.runtime.integrations.get(found.receiver, [])]
    ids += [i for i in sorted({*found.log, *last_job}) if i not in ids]
    integrations = []
    for integration in ids:
        entry = found.log.get(integration)
        # Alertmanager's rule (grouping.needs_update): with firing alerts and nothing new,
        # the next message is due repeat_interval after the last one.
        due = entry.at + route.repeat_interval if entry is not None and entry.firing else None
        if found.ack is not None:
            due = None  # acknowledged: repeats stop until the group changes
        last = last_job.get(integration)
        sent_at = entry.at if entry is not None else None
        held = found.held.get(integration)
        if held is not None:
            # In a hold window the log moves at each held decision, but nothing went out:
            # the last send is the one before the window, and the next is its digest.
            sent_at, due = held.get("last_sent"), None
        integrations.append(
            {
                "id": integration,
                "last_sent_at": sent_at,
                "held_until": found.held_until if held is not None else None,
                "firing": entry.firing if entry is not None else [],
                "resolved": entry.resolved if entry is not None else [],
                "repeat_due_at": due,
                "last_job": summary(last) if last is not None else None,
            }
        )
    external_url = str(found.meta.get("external_url", "")) or state.runtime.config.global_.external_url
    return {
        **_group_summary(found),
        "group_key": found.meta.get("group_key", found.key),
        "alerts": [_alert_view(fp, alert) for fp, alert in found.alerts.items()],
        "repeat_interval": route.repeat_interval,
        "external_url": external_url,
        "silence_url": silence_url(external_url, found),
        "integrations": integrations,
        "escalation": _escalation_view(found, route),
        "timeline": found.timeline,
        # How the console names the people the timeline mentions (display names).
        "people": _named(state, found.timeline),
    }


def _escalation_view(group: GroupState, route: Route) -> dict[str, Any] | None:
    """The group's escalation: its policy, steps fired, the next step's time, why it
    stopped; None when it never had one."""
    if group.escalation is None:
        return None
    view = dict(group.escalation)
    view["route_policy"] = route.escalation
    return view


def _named(state: RelayState, timeline: list[dict[str, Any]]) -> dict[str, str]:
    names = state.runtime.names
    found: dict[str, str] = {}
    for entry in timeline:
        for person in [entry.get("by"), *entry.get("people", ()), *entry.get("mentioned", ())]:
            if isinstance(person, str) and person in names:
                found[person] = names[person]
    return found


# -- webhooks ---------------------------------------------------------------------------
def _webhook_summary(body: Mapping[str, Any]) -> dict[str, Any]:
    alerts = body.get("alerts")
    return {
        "alerts": len(alerts) if isinstance(alerts, list) else 0,
        "status": body.get("status"),
        "group_key": body.get("groupKey"),
    }


async def _recent(state: RelayState) -> list[KeptWebhook]:
    """The kept webhooks, newest first: those not yet written to the store included."""
    ui = state.runtime.config.server.ui
    return await state.kept.recent(state.store, ui.keep_webhooks, ui.keep_webhook_bytes)


async def webhooks(state: RelayState) -> dict[str, Any]:
    ui = state.runtime.config.server.ui
    kept = []
    # keep_webhooks: 0 disables the list, also of webhooks kept before it was set.
    for hook in await _recent(state):
        kept.append({**hook.summary(), **_webhook_summary(json.loads(hook.body))})
    return {"webhooks": kept, "keep": ui.keep_webhooks, "keep_bytes": ui.keep_webhook_bytes}


async def webhook_body(state: RelayState, webhook_id: str) -> dict[str, Any]:
    if not state.runtime.config.server.ui.keep_webhooks:
        raise NotFound("relay keeps no webhooks (server.ui.keep_webhooks is 0)")
    for hook in await _recent(state):
        if hook.id == webhook_id:
            return cast(dict[str, Any], json.loads(hook.body))
    raise NotFound(
        f"no kept webhook {webhook_id!r} (relay keeps the last "
        f"{state.runtime.config.server.ui.keep_webhooks})"
    )


async def webhook(state: RelayState, webhook_id: str) -> dict[str, Any]:
    body = await webhook_body(state, webhook_id)
    for hook in await _recent(state):
        if hook.id == webhook_id:
            return {**hook.summary(), **_webhook_summary(body), "body": body}
    raise NotFound(f"no kept webhook {webhook_id!r}")


# -- playground -------------------------------------------------------------------------
async def _payload_of(state: RelayState, body: Mapping[str, Any]) -> dict[str, Any] | None:
    if body.get("webhook_id") is not None and body.get("payload") is not None:
        raise BadRequest("give webhook_id or payload, not both")
    if body.get("webhook_id") is not None:
        return await webhook_body(state, str(body["webhook_id"]))
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise BadRequest("payload: expected a JSON object (an Alertmanager v4 webhook)")
    return payload


async def render(state: RelayState, body: Mapping[str, Any]) -> dict[str, Any]:
    """What one integration (or a channel with placeholder settings) would send for a
    kept webhook, a pasted one or the sample; nothing is sent."""
    payload = await _payload_of(state, body)
    return await render_parts(
        state.runtime.config,
        integration=_optional_str(body, "integration"),
        channel=_optional_str(body, "channel"),
        locale=_optional_str(body, "locale"),
        payload=payload,
        at=state.clock.now(),
        **_digest_of(body),
    )


def _digest_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """``digest`` ("storm" or "hold") and ``groups`` (1-1000, default 5) of a render body."""
    digest = body.get("digest")
    if digest is None:
        return {}
    if digest not in DIGEST_KINDS:
        raise BadRequest(f"digest: expected one of {', '.join(DIGEST_KINDS)}, got {digest!r}")
    groups = body.get("groups", 5)
    if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= 1000:
        raise BadRequest(f"groups: expected a whole number from 1 to 1000, got {groups!r}")
    return {"digest": digest, "groups": groups}


async def send_test(state: RelayState, body: Mapping[str, Any], actor: str) -> dict[str, Any]:
    """Send once through one integration (no grouping, no retries, nothing stored)."""
    writable(state, "send test")
    integration = _optional_str(body, "integration")
    if integration is None:
        raise BadRequest("integration: required (an id such as oncall/wecom/0)")
    payload = await _payload_of(state, body)
    result = await send_one(state.runtime.config, integration, payload, state.clock.now())
    return {**result, "by": actor}


def _optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name}: expected a non-empty string")
    return value


# -- acknowledgements -------------------------------------------------------------------
async def _all_keys(state: RelayState) -> list[str]:
    keys: list[str] = []
    after: str | None = None
    while True:
        page, after = await state.delivery_log.list_groups(after, 1000)
        keys += [group.key for group in page]
        if after is None:
            return keys


async def set_acknowledged(
    state: RelayState,
    given: str,
    body: dict[str, Any],
    actor: str,
    *,
    acknowledged: bool,
    via: str = "api",
) -> dict[str, Any]:
    """Acknowledge (or lift the acknowledgement of) the group ``given`` names: its key,
    its id, or a unique prefix of either. ``by`` (default: who the request authenticated
    as) names a person of ``people:`` or anyone; ``comment`` is kept with it. ``via``:
    the console, or the API (``relay ack`` says ``"via": "cli"`` in the body)."""
    try:
        key = await acks.resolve_group_key(given, state.delivery_log.get_group, lambda: _all_keys(state))
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    by = body.get("by")
    by = str(by)[:100] if isinstance(by, str) and by.strip() else actor
    comment = str(body.get("comment") or "")[:500]
    if via == "api" and body.get("via") == "cli":
        via = "cli"
    now = state.clock.now()
    update = (
        acks.acknowledge(key, by, via, now, comment=comment)
        if acknowledged
        else acks.unacknowledge(key, now, by=by, via=via)
    )
    results = await state.apply([update])
    found = await state.delivery_log.get_group(key)
    if found is None:
        raise NotFound(f"no group {key!r}")
    if acknowledged and results and results[0].changed:
        state.count_acknowledged(found, now)
    return {"key": key, "id": acks.group_id(key), "acknowledged": ack_view(state, found.ack)}


def ack_view(state: RelayState, ack: dict[str, Any] | None) -> dict[str, Any] | None:
    """An acknowledgement as the API shows it: who (and their display name when they are
    in ``people:``), when, through what, and the comment."""
    if ack is None:
        return None
    by = str(ack.get("by") or "")
    person = state.runtime.config.person(by)
    return {
        "by": by,
        "person": person.shown if person is not None else None,
        "at": ack.get("at"),
        "via": ack.get("via", "slack"),
        "comment": ack.get("comment", ""),
    }
