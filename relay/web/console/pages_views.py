"""The console's read-only pages: overview, notifications, groups, routes, config."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from starlette.responses import Response

from relay.core.jobs import LOG_STATUSES
from relay.pipeline.oncall import oncall_view
from relay.web.console import queries, queries_config, queries_groups, queries_oncall
from relay.web.console.pages import Refused, Visit

#: What the status filter offers (the API's values, in the order an operator scans them).
STATUS_FILTERS = LOG_STATUSES
NOTIFICATION_FILTERS = ("status", "receiver", "integration", "alertname", "group", "since", "until")
PAGE_SIZE = 50
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


async def overview(visit: Visit) -> Response:
    data = await queries.overview(visit.state)
    config = visit.state.runtime.config
    oncall = overrides = None
    if config.schedules:
        runtime = await queries_oncall.runtime_overrides(visit.state)
        oncall = oncall_view(config, visit.state.clock.now(), upcoming=1, runtime=runtime)
        names = visit.state.runtime.names
        overrides = {
            s.name: [(p, names.get(p, p)) for p in sorted({p for r in s.rotations for p in r.people})]
            for s in config.schedules
        }
        oncall["made"] = [
            {**o, "shown": names.get(o["person"], o["person"])}
            for o in await visit.state.store.list_overrides()
            if o["end"] > visit.state.clock.now()
        ]
    stats = await queries_oncall.stats(visit.state, {"since": "7d"})
    return visit.page(
        "overview.html.j2",
        section="overview",
        data=data,
        oncall=oncall,
        people=overrides,
        stats=stats,
        done=visit.request.query_params.get("done", ""),
    )


async def notifications(visit: Visit) -> Response:
    params = visit.request.query_params
    filters = {name: params.get(name, "").strip() for name in NOTIFICATION_FILTERS}
    zone = ZoneInfo(visit.state.runtime.config.global_.timezone)
    query_params = {name: value for name, value in filters.items() if value}
    for name in ("since", "until"):
        if name in query_params:
            query_params[name] = _as_api_time(query_params[name], zone)
    if params.get("cursor"):
        query_params["cursor"] = params["cursor"]
    query_params["limit"] = str(PAGE_SIZE)
    problem = ""
    try:
        query = queries.parse_notification_filters(query_params)
        data = await queries.notifications(visit.state, query)
    except queries.BadRequest as exc:
        problem = "; ".join([exc.message, *exc.details])
        data = {"notifications": [], "next_cursor": None}
    shown = {name: value for name, value in filters.items() if value}
    next_url = (
        f"/ui/notifications?{urlencode({**shown, 'cursor': data['next_cursor']})}"
        if data.get("next_cursor")
        else ""
    )
    first_url = f"/ui/notifications?{urlencode(shown)}" if params.get("cursor") else ""
    config = visit.state.runtime.config
    return visit.page(
        "notifications.html.j2",
        section="notifications",
        data=data,
        filters=filters,
        statuses=STATUS_FILTERS,
        problem=problem,
        next_url=next_url,
        first_url=first_url,
        receivers=[r.name for r in config.receivers],
        integrations=[iid for r in config.receivers for iid, _ in r.integrations()],
        status=400 if problem else 200,
    )


def _as_api_time(value: str, zone: ZoneInfo) -> str:
    """A browser's datetime-local value (no zone) read in relay's time zone, as unix
    seconds; anything else goes to the API as typed (it takes unix seconds or RFC 3339)."""
    if not _LOCAL_TIME.match(value):
        return value
    return str(datetime.fromisoformat(value).replace(tzinfo=zone).timestamp())


async def notification(visit: Visit) -> Response:
    job_id = visit.request.path_params["id"]
    item = await queries.notification(visit.state, job_id)
    params = visit.request.query_params
    # The message as sent: the parts of the latest attempt that got as far as sending.
    as_sent: list[str] = next((a["sent"] for a in reversed(item["attempts"]) if a.get("sent")), [])
    return visit.page(
        "notification.html.j2",
        section="notifications",
        item=item,
        as_sent=as_sent,
        done=params.get("done", ""),
        new_job=params.get("job", ""),
    )


async def groups(visit: Visit) -> Response:
    params = visit.request.query_params
    receiver = params.get("receiver", "").strip()
    cursor = params.get("cursor") or None
    data = await queries_groups.groups(visit.state, cursor, PAGE_SIZE, receiver or None)
    shown = {"receiver": receiver} if receiver else {}
    next_url = (
        f"/ui/groups?{urlencode({**shown, 'cursor': data['next_cursor']})}" if data.get("next_cursor") else ""
    )
    first_url = f"/ui/groups?{urlencode(shown)}" if cursor else ""
    return visit.page(
        "groups.html.j2",
        section="groups",
        data=data,
        receiver=receiver,
        receivers=[r.name for r in visit.state.runtime.config.receivers],
        next_url=next_url,
        first_url=first_url,
    )


async def group(visit: Visit) -> Response:
    key = visit.request.query_params.get("key", "")
    if not key:
        raise Refused(404, "error.404")
    data = dict(await queries_groups.group(visit.state, key))
    data["silence_url"] = http_url(data.get("silence_url") or "")
    return visit.page(
        "group.html.j2",
        section="groups",
        group=data,
        silence_filter=silence_filter_of(data["silence_url"]),
        done=visit.request.query_params.get("done", ""),
    )


def http_url(url: str) -> str:
    """``url`` if it is http(s), else '' (a webhook's externalURL is not to be trusted
    into an href: javascript: and data: links are dropped)."""
    return url if urlsplit(url).scheme in ("http", "https") else ""


def silence_filter_of(url: str) -> str:
    """The ``{k="v", ...}`` filter inside an Alertmanager new-silence link, decoded."""
    fragment = urlsplit(url).fragment
    _, _, query = fragment.partition("?")
    return parse_qs(query).get("filter", [""])[0]


async def routes(visit: Visit) -> Response:
    data = queries_config.routes(visit.state)
    text = visit.request.query_params.get("labels", "")
    test: dict[str, Any] | None = None
    problem = ""
    if text.strip():
        try:
            test = queries_config.routes_test(visit.state, parse_labels(text))
        except ValueError as exc:
            problem = str(exc)
    matched = {route["id"] for route in test["routes"]} if test else set()
    return visit.page(
        "routes.html.j2",
        section="routes",
        data=data,
        labels_text=text,
        test=test,
        problem=problem,
        matched=matched,
        status=400 if problem else 200,
    )


def parse_labels(text: str) -> dict[str, str]:
    """``name=value`` per line; a value may be double-quoted."""
    labels: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
            raise ValueError(f"line {number}: expected name=value, got {line!r}")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        labels[name] = value
    return labels


async def config(visit: Visit) -> Response:
    data = queries_config.config_view(visit.state, durations_as_text=True)
    return visit.page("config.html.j2", section="config", data=data)
