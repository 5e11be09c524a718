"""The console's JSON API under /api/v1/: thin handlers around relay.web.console.queries.

Every answer passes through :func:`answer`, which redacts each configured secret from
every string (a second line of defence: the store keeps messages redacted already).
POSTs take JSON only: a cross-site HTML form cannot send ``application/json``, so a
browser holding basic-auth credentials cannot be made to post here (CSRF).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relay.core.errors import StoreUnavailable
from relay.core.said import Said
from relay.core.secrets import redact
from relay.core.text import ascii_int
from relay.pipeline.calendar import ics_feed
from relay.pipeline.oncall import UnknownSchedule, oncall_view
from relay.web.console import queries, queries_config, queries_groups, queries_oncall
from relay.web.console.errors import BadRequest, ConsoleError, NotFound
from relay.web.console.openapi import openapi_document
from relay.web.ingest import error, is_json_type

if TYPE_CHECKING:
    from relay.web.state import RelayState

Handler = Callable[[Request, "RelayState"], Awaitable[Response]]
MAX_JSON_BODY = 4 * 1024 * 1024


def actor_of(request: Request) -> str:
    """Who is acting (set by relay.web.routes.protected)."""
    return str(getattr(request.state, "actor", "anonymous"))


def scrub(value: Any, secrets: list[str]) -> Any:
    """``value`` with every configured secret redacted from every string in it (both
    languages of words relay wrote in two)."""
    if isinstance(value, Said):
        return Said(redact(value, secrets), redact(value.zh, secrets))
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def answer(state: RelayState, data: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(scrub(data, state.runtime.secrets), status)


async def json_body(request: Request, *, required: bool) -> dict[str, Any]:
    """The request's JSON object; ``{}`` for an empty body when not required."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BadRequest("expected a JSON object in the body (Content-Type: application/json)")
        return {}
    if not is_json_type(request.headers.get("content-type", "")):
        raise BadRequest("expected Content-Type: application/json")
    if len(raw) > MAX_JSON_BODY:
        raise BadRequest(f"body larger than {MAX_JSON_BODY} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object in the body")
    return data


def handled(handler: Handler) -> Handler:
    """Console errors and an unreachable store become their JSON answers."""

    async def run(request: Request, state: RelayState) -> Response:
        try:
            return await handler(request, state)
        except ConsoleError as exc:
            return error(exc.status, exc.message, exc.details)
        except StoreUnavailable as exc:
            return error(503, "storage unavailable", [str(exc)], headers={"Retry-After": "5"})

    return run


# -- handlers ---------------------------------------------------------------------------
async def overview(request: Request, state: RelayState) -> Response:
    return answer(state, await queries.overview(state))


async def notifications(request: Request, state: RelayState) -> Response:
    query = queries.parse_notification_filters(request.query_params)
    return answer(state, await queries.notifications(state, query))


async def notification(request: Request, state: RelayState) -> Response:
    return answer(state, await queries.notification(state, request.path_params["id"]))


async def retry(request: Request, state: RelayState) -> Response:
    await json_body(request, required=False)
    result = await queries.retry(state, request.path_params["id"], actor_of(request))
    return answer(state, result, 202)


async def resend(request: Request, state: RelayState) -> Response:
    await json_body(request, required=False)
    result = await queries.resend(state, request.path_params["id"], actor_of(request))
    return answer(state, result, 202)


async def groups(request: Request, state: RelayState) -> Response:
    params = request.query_params
    unknown = sorted(set(params) - {"receiver", "cursor", "limit"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}", ["use: receiver, cursor, limit"])
    return answer(
        state,
        await queries_groups.groups(
            state,
            params.get("cursor") or None,
            queries.parse_limit(params.get("limit")),
            params.get("receiver") or None,
        ),
    )


async def group(request: Request, state: RelayState) -> Response:
    return answer(state, await queries_groups.group(state, request.path_params["key"]))


async def webhooks(request: Request, state: RelayState) -> Response:
    return answer(state, await queries_groups.webhooks(state))


async def webhook(request: Request, state: RelayState) -> Response:
    return answer(state, await queries_groups.webhook(state, request.path_params["id"]))


async def render(request: Request, state: RelayState) -> Response:
    return answer(state, await queries_groups.render(state, await json_body(request, required=False)))


async def send_test(request: Request, state: RelayState) -> Response:
    queries.writable(state, "send test")  # before reading anything
    body = await json_body(request, required=True)
    return answer(state, await queries_groups.send_test(state, body, actor_of(request)))


async def routes(request: Request, state: RelayState) -> Response:
    return answer(state, queries_config.routes(state))


async def routes_test(request: Request, state: RelayState) -> Response:
    body = await json_body(request, required=True)
    at = body.get("at")
    when = parse_at(str(at), state) if at is not None else None
    return answer(state, queries_config.routes_test(state, body.get("labels"), when))


async def config(request: Request, state: RelayState) -> Response:
    return answer(state, queries_config.config_view(state))


def parse_at(text: str | None, state: RelayState) -> float:
    """``?at=``: unix seconds or an ISO 8601 time (without an offset: global.timezone);
    now when absent."""
    if text is None or not text.strip():
        return state.clock.now()
    try:
        return float(text) if text.replace(".", "", 1).isdigit() else _iso(text, state)
    except ValueError:
        raise BadRequest(f"at: {text!r} is neither unix seconds nor an ISO 8601 time") from None


def _iso(text: str, state: RelayState) -> float:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(state.runtime.config.global_.timezone))
    return when.timestamp()


async def oncall(request: Request, state: RelayState) -> Response:
    """Who is on call now (``?at=`` unix seconds or ISO 8601; ``?schedule=``)."""
    at = parse_at(request.query_params.get("at"), state)
    runtime = await queries_oncall.runtime_overrides(state)
    upcoming = ascii_int(request.query_params.get("next", "3"))
    if upcoming is None or upcoming > 20:
        raise BadRequest("next: expected a number of hand-offs from 0 to 20")
    try:
        view = oncall_view(
            state.runtime.config,
            at,
            schedule=request.query_params.get("schedule"),
            upcoming=upcoming,
            runtime=runtime,
        )
    except UnknownSchedule as exc:
        raise NotFound(str(exc)) from None
    return answer(state, view)


async def heartbeats(request: Request, state: RelayState) -> Response:
    """Each heartbeat: its last beat, when one was first expected and its state."""
    return answer(state, {"now": state.clock.now(), "heartbeats": await queries.heartbeats(state)})


async def stats(request: Request, state: RelayState) -> Response:
    """Incident counts and times to acknowledge and resolve (``?since=7d&receiver=&escalation=``)."""
    return answer(state, await queries_oncall.stats(state, dict(request.query_params)))


async def schedule_feed(request: Request, state: RelayState) -> Response:
    """The schedule's next eight weeks of shifts as an iCalendar feed."""
    name = request.path_params["name"]
    config = state.runtime.config
    queries_oncall.schedule_config(state, name)  # 404 for an unknown one
    runtime = await queries_oncall.runtime_overrides(state)
    schedule = config.schedule(name, runtime.get(name, ()))
    assert schedule is not None
    body = ics_feed(config, schedule, state.clock.now())
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{quote(name)}.ics"'},
    )


async def schedule_overrides(request: Request, state: RelayState) -> Response:
    """GET: the schedule's overrides; POST: make one (``person``, ``start``, ``end``)."""
    name = request.path_params["name"]
    if request.method == "GET":
        return answer(state, await queries_oncall.list_overrides(state, name))
    body = await json_body(request, required=True)
    made = await queries_oncall.add_override(state, name, body, actor_of(request))
    return answer(state, made, 201)


async def schedule_override(request: Request, state: RelayState) -> Response:
    name, override_id = request.path_params["name"], request.path_params["id"]
    return answer(state, await queries_oncall.delete_override(state, name, override_id))


async def group_ack(request: Request, state: RelayState) -> Response:
    body = await json_body(request, required=False)
    changed = await queries_groups.set_acknowledged(
        state, request.path_params["key"], body, actor_of(request), acknowledged=True
    )
    return answer(state, changed)


async def group_unack(request: Request, state: RelayState) -> Response:
    body = await json_body(request, required=False)
    changed = await queries_groups.set_acknowledged(
        state, request.path_params["key"], body, actor_of(request), acknowledged=False
    )
    return answer(state, changed)


async def openapi(request: Request, state: RelayState) -> Response:
    return JSONResponse(openapi_document())


#: (path, methods, handler): every console endpoint. /api/v1/notifications and its
#: retry were relay's before the console; they answer as they did, with more filters.
ENDPOINTS: list[tuple[str, list[str], Handler]] = [
    ("/api/v1/overview", ["GET"], overview),
    ("/api/v1/notifications", ["GET"], notifications),
    ("/api/v1/notifications/{id}", ["GET"], notification),
    ("/api/v1/notifications/{id}/retry", ["POST"], retry),
    ("/api/v1/notifications/{id}/resend", ["POST"], resend),
    ("/api/v1/groups", ["GET"], groups),
    ("/api/v1/groups/{key:path}/ack", ["POST"], group_ack),
    ("/api/v1/groups/{key:path}/unack", ["POST"], group_unack),
    ("/api/v1/groups/{key:path}", ["GET"], group),
    ("/api/v1/webhooks", ["GET"], webhooks),
    ("/api/v1/webhooks/{id}", ["GET"], webhook),
    ("/api/v1/render", ["POST"], render),
    ("/api/v1/send-test", ["POST"], send_test),
    ("/api/v1/routes", ["GET"], routes),
    ("/api/v1/routes/test", ["POST"], routes_test),
    ("/api/v1/config", ["GET"], config),
    ("/api/v1/oncall", ["GET"], oncall),
    ("/api/v1/stats", ["GET"], stats),
    ("/api/v1/heartbeats", ["GET"], heartbeats),
    ("/api/v1/schedules/{name}.ics", ["GET"], schedule_feed),
    ("/api/v1/schedules/{name}/overrides", ["GET", "POST"], schedule_overrides),
    ("/api/v1/schedules/{name}/overrides/{id}", ["DELETE"], schedule_override),
    ("/api/v1/openapi.json", ["GET"], openapi),
]


def console_routes(
    bind: Callable[[Handler], Callable[[Request], Awaitable[Response]]],
    protect: Callable[[Handler], Handler],
    guard: Callable[[Handler], Handler],
) -> list[Route]:
    """The routes, each behind ``protect`` (auth) and ``guard`` (500 without traceback)."""
    return [
        Route(path, bind(guard(protect(handled(handler)))), methods=methods)
        for path, methods, handler in ENDPOINTS
    ]
