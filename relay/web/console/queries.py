"""What the console shows, as plain JSON-ready dicts: the /api/v1/ console endpoints
answer them and the /ui/ pages render them, so the two cannot drift.

Every function takes the running :class:`relay.web.state.RelayState`. Client mistakes raise a
:class:`ConsoleError` subclass (status + message + details); a store that cannot be
reached raises :class:`relay.core.errors.StoreUnavailable`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from pydantic import SecretStr

from relay.core import silence_links
from relay.core.alerts import common_items
from relay.core.digests import DIGEST_KINDS
from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState
from relay.core.jobs import LOG_STATUSES, Job, new_job_id
from relay.core.secrets import redact
from relay.core.text import TimeWithoutZone, parse_rfc3339
from relay.pipeline.routing import Route
from relay.store.base import JobQuery, KeptWebhook
from relay.web.console.cursor import (
    BadCursor,
    decode_group_cursor,
    decode_job_cursor,
    encode_group_cursor,
    encode_job_cursor,
)
from relay.web.console.errors import BadRequest, Conflict, ConsoleError, NotFound, ReadOnly
from relay.web.console.playground import render_parts, send_one

if TYPE_CHECKING:
    from relay.web.state import RelayState

__all__ = ["BadRequest", "Conflict", "ConsoleError", "NotFound", "ReadOnly"]

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100  # what /api/v1/notifications answered before the console


# -- filters ----------------------------------------------------------------------------
def parse_time(name: str, text: str) -> float:
    """Unix seconds or an RFC 3339 time (with a zone); BadRequest naming ``name``."""
    try:
        value = float(text)
    except ValueError:
        return _rfc3339(name, text)
    if not math.isfinite(value):
        raise BadRequest(f"{name}: {text!r} is not a time")
    return value


def _rfc3339(name: str, text: str) -> float:
    try:
        return parse_rfc3339(text)
    except TimeWithoutZone as exc:
        raise BadRequest(f"{name}: {exc}") from None
    except ValueError:
        raise BadRequest(
            f"{name}: expected unix seconds or an RFC 3339 time (2024-05-01T12:00:00Z), got {text!r}"
        ) from None


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isdigit() or not 0 < int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a number from 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


NOTIFICATION_FILTERS = (
    "status",
    "receiver",
    "integration",
    "alertname",
    "group",
    "since",
    "until",
    "cursor",
    "limit",
)


def parse_notification_filters(params: Mapping[str, str]) -> JobQuery:
    """The delivery log query of ``params`` (a request's query string)."""
    unknown = sorted(set(params) - set(NOTIFICATION_FILTERS))
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}", [f"use: {', '.join(NOTIFICATION_FILTERS)}"])
    status = params.get("status") or None
    if status is not None and status not in LOG_STATUSES:
        raise BadRequest(f"unknown status {status!r}", [f"use one of: {', '.join(LOG_STATUSES)}"])
    since = parse_time("since", params["since"]) if params.get("since") else None
    until = parse_time("until", params["until"]) if params.get("until") else None
    if since is not None and until is not None and since > until:
        raise BadRequest("since is after until")
    cursor = None
    if params.get("cursor"):
        try:
            cursor = decode_job_cursor(params["cursor"])
        except BadCursor as exc:
            raise BadRequest(f"cursor: {exc}") from None
    return JobQuery(
        status=status,
        receiver=params.get("receiver") or None,
        integration=params.get("integration") or None,
        group_key=params.get("group") or None,
        alertname=params.get("alertname") or None,
        since=since,
        until=until,
        cursor=cursor,
        limit=parse_limit(params.get("limit")),
    )


# -- overview ---------------------------------------------------------------------------
async def overview(state: RelayState) -> dict[str, Any]:
    runtime = state.runtime
    now = state.clock.now()
    try:
        counts: dict[str, int] | None = await state.delivery_log.job_counts()
        stats = await state.delivery_log.integration_stats(now)
        reachable = True
    except StoreUnavailable:  # the overview still shows the config and says so
        counts, stats, reachable = None, {}, False
    receivers = []
    for receiver in runtime.config.receivers:
        integrations = []
        for integration, channel in receiver.integrations():
            s = stats.get(integration)
            last = None
            if s is not None and s.last_at is not None:
                last = {
                    "at": s.last_at,
                    "outcome": s.last_outcome,
                    "reason": s.last_reason,
                    "error": s.last_error,
                }
            health = "idle" if last is None else ("ok" if last["outcome"] == "delivered" else "failing")
            integrations.append(
                {
                    "id": integration,
                    "type": channel.kind,
                    "health": health,
                    "last": last,
                    "hour": {"delivered": s.hour_delivered if s else 0, "failed": s.hour_failed if s else 0},
                    "day": {"delivered": s.day_delivered if s else 0, "failed": s.day_failed if s else 0},
                    "queue": s.queue if s else 0,
                    "oldest_pending_at": s.oldest_queued_at if s else None,
                    "dead": s.dead if s else 0,
                    "rate_limit": state.dispatcher.rate_limit(integration),
                }
            )
        receivers.append({"name": receiver.name, "integrations": integrations})
    return {
        "now": now,
        "config": state.config_summary(),
        "storage": {
            "backend": state.delivery_log.describe(),
            "reachable": reachable,
            "problem": state.store_problem,
        },
        "queue": counts,
        "read_only": runtime.config.server.ui.read_only,
        "receivers": receivers,
    }


# -- notifications ----------------------------------------------------------------------
async def notifications(state: RelayState, query: JobQuery) -> dict[str, Any]:
    page = await state.delivery_log.query_jobs(query)
    acks = await group_acknowledgements(state, page.jobs)
    return {
        "notifications": [
            {**summary(job), "group_acknowledged": acks.get(job.group_key)} for job in page.jobs
        ],
        "next_cursor": encode_job_cursor(page.next) if page.next is not None else None,
    }


async def group_acknowledgements(state: RelayState, jobs: list[Job]) -> dict[str, dict[str, Any]]:
    """group key -> its acknowledgement ({"by", "at"}) for the groups of ``jobs`` that
    have one now (relay.pipeline.grouping.acknowledge_update)."""
    acks: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(job.group_key for job in jobs):
        group = await state.delivery_log.get_group(key)
        if group is not None and group.ack is not None:
            acks[key] = {"by": group.ack.get("by"), "at": group.ack.get("at")}
    return acks


def summary(job: Job) -> dict[str, Any]:
    """A job in the log's list: its attempts without the message as sent (that is on the
    notification's own answer), so a page stays small."""
    data = job.to_api()
    data["attempts"] = [{k: v for k, v in a.items() if k != "sent"} for a in data["attempts"]]
    return data


async def _job(state: RelayState, job_id: str) -> Job:
    job = await state.delivery_log.get_job(job_id)
    if job is None:
        raise NotFound(f"no notification {job_id!r}")
    return job


async def notification(state: RelayState, job_id: str) -> dict[str, Any]:
    """One notification with its attempts as sent. A notification merged into a storm
    digest (``digest_id``) also has ``digest_job``: that digest's id, status, finish time
    and summary (null once the digest is pruned); a digest's own ``notification`` is its
    stored digest ({"digest": ...}) and ``digest`` its summary."""
    job = await _job(state, job_id)
    data = {**job.to_api(), "notification": job.payload, "digest_job": None}
    if job.digest_id is not None:
        digest = await state.delivery_log.get_job(job.digest_id)
        if digest is not None:
            api = digest.to_api()
            kept = ("id", "status", "retrying", "created_at", "finished_at", "digest")
            data["digest_job"] = {key: api[key] for key in kept}
    return data


def writable(state: RelayState, what: str) -> None:
    if state.runtime.config.server.ui.read_only:
        raise ReadOnly(f"the console is read-only (server.ui.read_only): {what} is refused")


async def retry(state: RelayState, job_id: str, actor: str) -> dict[str, Any]:
    """A dead notification back to pending, with a fresh retry window."""
    writable(state, "retry")
    job = await _job(state, job_id)
    if not await state.delivery_log.requeue(job_id, state.clock.now(), by=actor):
        raise Conflict(f"notification {job_id} is {job.status}; only dead ones can be retried")
    state.dispatcher.wake()
    return {"id": job_id, "status": "pending"}


async def resend(state: RelayState, job_id: str, actor: str) -> dict[str, Any]:
    """A delivered notification sent again, as a new job of the same integration."""
    writable(state, "resend")
    job = await _job(state, job_id)
    copy = await state.delivery_log.resend(job_id, new_job_id(), state.clock.now(), actor)
    if copy is None:
        raise Conflict(f"notification {job_id} is {job.status}; only delivered ones can be resent")
    state.dispatcher.wake()
    return {"id": copy.id, "resent_from": job_id, "status": copy.status}


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
        # Acknowledged from Slack: no repeat until the group's firing alerts change.
        "acknowledged": (
            {"by": group.ack.get("by"), "at": group.ack.get("at")} if group.ack is not None else None
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
        integrations.append(
            {
                "id": integration,
                "last_sent_at": entry.at if entry is not None else None,
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
    }


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
        "routes": [_route_view(child) for child in route.routes],
    }


def routes(state: RelayState) -> dict[str, Any]:
    return {"tree": _route_view(state.runtime.tree)}


def routes_test(state: RelayState, labels: Any) -> dict[str, Any]:
    """The receivers alerts with ``labels`` reach: `relay routes test`'s logic."""
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
    return {"receivers": receivers, "routes": [{"id": r.id, "receiver": r.receiver} for r in reached]}


SECRET = "<secret>"


def _secretless(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return SECRET
    if isinstance(value, dict):
        return {k: _secretless(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_secretless(v) for v in value]
    return value


def config_view(state: RelayState) -> dict[str, Any]:
    """The effective config (defaults filled in); every secret is ``<secret>``, and a
    password in storage.url too."""
    config = state.runtime.config
    data = _secretless(config.model_dump(mode="python", by_alias=True))
    data["storage"]["url"] = redact(config.storage.url).replace("<redacted>", SECRET)

    return {
        "source": config.source,
        "hash": config.digest,
        # Through JSON once: durations and paths become what the API sends.
        "config": json.loads(json.dumps(data, default=str)),
    }
