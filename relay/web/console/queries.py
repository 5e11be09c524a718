"""What the console shows, as plain JSON-ready dicts: the /api/v1/ console endpoints
answer them and the /ui/ pages render them, so the two cannot drift.

Every function takes the running :class:`relay.web.state.RelayState`. Client mistakes raise a
:class:`ConsoleError` subclass (status + message + details); a store that cannot be
reached raises :class:`relay.core.errors.StoreUnavailable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relay.core.errors import StoreUnavailable
from relay.core.jobs import LOG_STATUSES, Job, new_job_id
from relay.core.text import TimeWithoutZone, ascii_int, parse_rfc3339
from relay.pipeline.heartbeats import read as read_heartbeat
from relay.pipeline.heartbeats import view as heartbeat_view
from relay.store.base import JobQuery
from relay.web.console.cursor import (
    BadCursor,
    decode_job_cursor,
    encode_job_cursor,
)
from relay.web.console.errors import BadRequest, Conflict, ConsoleError, NotFound, ReadOnly

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
    limit = ascii_int(text)
    if limit is None or not 0 < limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be a number from 1 to {MAX_LIMIT}, got {text!r}")
    return limit


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
async def heartbeats(state: RelayState) -> list[dict[str, Any]]:
    """Each heartbeat's last beat and state, read from the store (what every replica sees)."""
    now = state.clock.now()
    out = []
    for heartbeat in state.runtime.heartbeats:
        reading = await read_heartbeat(state.store, heartbeat, now, state.heartbeat_since)
        out.append(heartbeat_view(heartbeat, reading, now))
    return out


async def overview(state: RelayState) -> dict[str, Any]:
    runtime = state.runtime
    now = state.clock.now()
    try:
        counts: dict[str, int] | None = await state.delivery_log.job_counts()
        stats = await state.delivery_log.integration_stats(now)
        reachable = True
    except StoreUnavailable:  # the overview still shows the config and says so
        counts, stats, reachable = None, {}, False
    try:
        beats = await heartbeats(state) if reachable else []
    except StoreUnavailable:
        beats = []
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
        "heartbeats": beats,
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
    have one now (relay.pipeline.acks)."""
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
