"""The OpenAPI 3.1 document of relay's /api/v1/ (served at /api/v1/openapi.json).

Hand-written next to the handlers; tests/console_api/test_openapi.py checks that every
/api/v1 route the app registers is described here, with its methods.
"""

from __future__ import annotations

import functools
from typing import Any

from relay import __version__
from relay.core.jobs import LOG_STATUSES
from relay.web.console.openapi_schemas import OBJ, ROUTE_REPORT, SCHEMAS, STR_MAP, ref


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_ERRORS = {
    "400": _json(ref("Error"), "the request is wrong; the message says where"),
    "401": _json(ref("Error"), "server.auth is configured and the credentials are missing or wrong"),
    "503": _json(ref("Error"), "the store cannot be reached (Retry-After)"),
}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    status: str = "200",
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    responses = {status: ok, **_ERRORS}
    for code, text in (extra or {}).items():
        responses[code] = _json(ref("Error"), text)
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_FILTERS = [
    _query(
        "status",
        "pending (includes retrying), retrying (pending after an attempt), running, delivered or dead",
        {"enum": list(LOG_STATUSES)},
    ),
    _query("receiver", "receiver name"),
    _query("integration", "integration id, e.g. oncall/wecom/0"),
    _query("alertname", "an alertname among the notification's alerts"),
    _query("group", "the store's group key"),
    _query("since", "created at or after: unix seconds or RFC 3339"),
    _query("until", "created at or before: unix seconds or RFC 3339"),
    _query("cursor", "next_cursor of the previous page"),
    _query("limit", "1 to 1000, default 100", {"type": "integer", "minimum": 1, "maximum": 1000}),
]
_READ_ONLY = {"403": "server.ui.read_only is true"}


@functools.cache
def openapi_document() -> dict[str, Any]:
    page = {"allOf": [ref("Page")]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "relay API",
            "version": __version__,
            "description": "relay's HTTP API: the webhook, status and the operator "
            "console's endpoints (docs/operations.md).",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
        "security": [{"bearer": []}, {"basic": []}, {}],
        "paths": {
            "/api/v1/alerts/webhook": {
                "post": _op(
                    "Alertmanager webhook (v4)",
                    _json(OBJ, "accepted"),
                    body={"type": "object", "description": "Alertmanager's webhook body"},
                    extra={"413": "body too large", "415": "not JSON", "422": "not a v4 webhook"},
                )
            },
            "/api/v1/alerts/webhook/{receiver}": {
                "post": _op(
                    "Alertmanager webhook for one receiver (route tree skipped)",
                    _json(OBJ, "accepted"),
                    params=[_path("receiver", "receiver name")],
                    body={"type": "object"},
                    extra={"404": "unknown receiver"},
                )
            },
            "/api/v1/grafana/webhook": {
                "post": _op(
                    "Grafana Alerting's webhook contact point (version 1), routed like Alertmanager's",
                    _json(OBJ, "accepted"),
                    body={"type": "object", "description": "Grafana's webhook body"},
                    extra={
                        "413": "body too large",
                        "415": "not JSON",
                        "422": "not a Grafana webhook (each wrong field named)",
                    },
                )
            },
            "/api/v1/grafana/webhook/{receiver}": {
                "post": _op(
                    "Grafana Alerting's webhook for one receiver (route tree skipped)",
                    _json(OBJ, "accepted"),
                    params=[_path("receiver", "receiver name")],
                    body={"type": "object"},
                    extra={"404": "unknown receiver"},
                )
            },
            "/api/v1/slack/interactions": {
                "post": {
                    "summary": "The Slack app's interactivity URL (Silence, Acknowledge buttons); "
                    "signed by Slack, not behind server.auth",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {"application/x-www-form-urlencoded": {"schema": OBJ}},
                    },
                    "responses": {
                        "200": {"description": "taken; the action runs in the background"},
                        "400": _json(ref("Error"), "not Slack's form body"),
                        "401": _json(ref("Error"), "bad signature or timestamp"),
                        "404": _json(ref("Error"), "no Slack config has a signing_secret"),
                        "413": _json(ref("Error"), "body over 1 MiB"),
                    },
                }
            },
            "/api/v1/telegram/updates": {
                "post": {
                    "summary": "A Telegram bot's webhook (button presses); verified by the"
                    " X-Telegram-Bot-Api-Secret-Token of a config's webhook_secret, not behind server.auth",
                    "security": [],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": OBJ}}},
                    "responses": {
                        "200": {"description": "taken (a repeat, or not a press of relay's, does nothing)"},
                        "400": _json(ref("Error"), "not a JSON object"),
                        "401": _json(ref("Error"), "no config has this secret token"),
                        "413": _json(ref("Error"), "update over 64 KiB"),
                        "503": _json(ref("Error"), "storage unavailable: Telegram sends it again"),
                    },
                }
            },
            "/api/v1/twilio/voice/{job_id}/status": {
                "post": {
                    "summary": "How a Twilio call relay placed ended (its StatusCallback): on the group's"
                    " timeline. Verified by X-Twilio-Signature with a config's auth_token,"
                    " not behind server.auth",
                    "security": [],
                    "parameters": [_path("job_id", "the notification job that placed the call")],
                    "responses": {
                        "200": {"description": "recorded (a replay does nothing)"},
                        "401": {"description": "bad X-Twilio-Signature, or no config of this AccountSid"},
                        "404": {"description": "no call of that config has this job id"},
                        "413": {"description": "body over 16 KiB"},
                        "503": {"description": "storage unavailable: Twilio sends it again"},
                    },
                }
            },
            "/api/v1/twilio/voice/{job_id}/gather": {
                "post": {
                    "summary": "The key pressed during a Twilio call: 1 acknowledges the group."
                    " Answers TwiML; verified by X-Twilio-Signature, not behind server.auth",
                    "security": [],
                    "parameters": [_path("job_id", "the notification job that placed the call")],
                    "responses": {
                        "200": {"description": "text/xml: what the call says next"},
                        "401": {"description": "bad X-Twilio-Signature, or no config of this AccountSid"},
                        "404": {"description": "no call of that config has this job id"},
                        "503": {"description": "storage unavailable"},
                    },
                }
            },
            "/api/v1/wecom/callback": {
                "get": {
                    "summary": "The WeCom application's URL check: the decrypted echostr",
                    "security": [],
                    "responses": {
                        "200": {"description": "text/plain: echostr decrypted"},
                        "401": {"description": "bad msg_signature"},
                    },
                },
                "post": {
                    "summary": "The WeCom application's encrypted events (card button presses); signed,"
                    " timestamped and encrypted by WeCom, not behind server.auth",
                    "security": [],
                    "responses": {
                        "200": {"description": "taken (empty body)"},
                        "400": {"description": "no <Encrypt>, or it does not decrypt"},
                        "401": {"description": "bad signature, stale timestamp or a replayed nonce"},
                        "413": {"description": "body over 64 KiB"},
                    },
                },
            },
            "/api/v1/feishu/callback": {
                "post": {
                    "summary": "A Feishu app's card callbacks (button presses) and its URL check; signed"
                    " and encrypted with the app's encrypt key, not behind server.auth",
                    "security": [],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": OBJ}}},
                    "responses": {
                        "200": {"description": "the challenge, or a toast and the updated card"},
                        "401": {"description": "bad signature or token, stale, or a replayed event_id"},
                        "413": {"description": "body over 64 KiB"},
                    },
                }
            },
            "/a/{token}": {
                "get": {
                    "summary": "The page an action link opens: what it does, and a button; changes nothing",
                    "security": [],
                    "parameters": [_path("token", "the link's signed token")],
                    "responses": {
                        "200": {"description": "text/html"},
                        "404": {"description": "not a link of this relay"},
                        "410": {"description": "expired, or its message is no longer kept"},
                    },
                },
                "post": {
                    "summary": "Act (acknowledge or silence), once; form fields who or who_other",
                    "security": [],
                    "parameters": [_path("token", "the link's signed token")],
                    "responses": {
                        "200": {"description": "text/html: what was done, and by whom"},
                        "400": {"description": "who is acting was not said"},
                        "502": {"description": "Alertmanager did not take the silence; nothing was done"},
                    },
                },
            },
            "/api/v1/status": {"get": _op("Version, config, storage and queue", _json(OBJ, "status"))},
            "/api/v1/overview": {
                "get": _op("Health of every receiver and integration", _json(ref("Overview"), "overview"))
            },
            "/api/v1/notifications": {
                "get": _op(
                    "The delivery log, newest first, keyset-paginated",
                    _json(
                        {
                            "allOf": [
                                ref("Page"),
                                {
                                    "type": "object",
                                    "properties": {
                                        "notifications": {"type": "array", "items": ref("Notification")}
                                    },
                                },
                            ]
                        },
                        "a page",
                    ),
                    params=_FILTERS,
                )
            },
            "/api/v1/notifications/{id}": {
                "get": _op(
                    "One notification: every attempt with the message as sent, actions",
                    _json(ref("Notification"), "the notification"),
                    params=[_path("id", "job id")],
                    extra={"404": "no such notification"},
                )
            },
            "/api/v1/notifications/{id}/retry": {
                "post": _op(
                    "Retry a dead notification (dead -> pending)",
                    _json(OBJ, "queued again"),
                    params=[_path("id", "job id")],
                    status="202",
                    extra={**_READ_ONLY, "404": "no such notification", "409": "not dead"},
                )
            },
            "/api/v1/notifications/{id}/resend": {
                "post": _op(
                    "Send a delivered notification again (a new job)",
                    _json(OBJ, "the new job"),
                    params=[_path("id", "job id")],
                    status="202",
                    extra={**_READ_ONLY, "404": "no such notification", "409": "not delivered"},
                )
            },
            "/api/v1/groups": {
                "get": _op(
                    "Groups relay holds, by key",
                    _json(
                        {
                            "allOf": [
                                page["allOf"][0],
                                {
                                    "type": "object",
                                    "properties": {"groups": {"type": "array", "items": ref("Group")}},
                                },
                            ]
                        },
                        "a page",
                    ),
                    params=[
                        _query("receiver", "receiver name"),
                        _query("cursor", "next_cursor of the previous page"),
                        _query("limit", "1 to 1000", {"type": "integer"}),
                    ],
                )
            },
            "/api/v1/groups/{key}": {
                "get": _op(
                    "One group: alerts, last notification per integration, repeat due, silence link",
                    _json(ref("Group"), "the group"),
                    params=[_path("key", "the group key, URL-encoded (it may hold '/')")],
                    extra={"404": "no such group"},
                )
            },
            "/api/v1/webhooks": {
                "get": _op(
                    "The last webhooks received (server.ui.keep_webhooks)",
                    _json(
                        {
                            "type": "object",
                            "properties": {
                                "webhooks": {"type": "array", "items": ref("Webhook")},
                                "keep": {"type": "integer"},
                                "keep_bytes": {"type": "integer"},
                            },
                        },
                        "kept",
                    ),
                )
            },
            "/api/v1/webhooks/{id}": {
                "get": _op(
                    "One kept webhook with its body",
                    _json(ref("Webhook"), "the webhook"),
                    params=[_path("id", "webhook id")],
                    extra={"404": "not kept"},
                )
            },
            "/api/v1/render": {
                "post": _op(
                    "Render one integration's message (nothing is sent)",
                    _json(ref("Rendered"), "the parts"),
                    body=ref("RenderRequest"),
                    extra={"404": "no such integration or kept webhook"},
                )
            },
            "/api/v1/send-test": {
                "post": _op(
                    "Send once through one integration",
                    _json(OBJ, "the outcome"),
                    body=ref("RenderRequest"),
                    extra={**_READ_ONLY, "404": "no such integration or kept webhook"},
                )
            },
            "/api/v1/oncall": {
                "get": _op(
                    "Who is on call now in each schedule, since and until when, and the next hand-offs",
                    _json(
                        {
                            "type": "object",
                            "properties": {
                                "at": {"type": "number"},
                                "schedules": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                        "each schedule: name, time_zone, now (person, display_name, source, start, end),"
                        " next (the same, for the next hand-offs); a start or end beyond 90 days is null",
                    ),
                    params=[
                        _query("schedule", "one schedule only (404 when there is none of that name)"),
                        _query(
                            "at", "unix seconds or ISO 8601 (without an offset: global.timezone); default now"
                        ),
                    ],
                )
            },
            "/api/v1/stats": {
                "get": _op(
                    "Incidents per receiver and per escalation policy: counts, and the median and 90th"
                    " percentile of the time to acknowledge and to resolve",
                    _json(
                        {
                            "type": "object",
                            "properties": {
                                "since": {"type": "number"},
                                "until": {"type": "number"},
                                "window_seconds": {"type": "number"},
                                "truncated": {"type": "boolean"},
                                "total": {"type": "object"},
                                "receivers": {"type": "object"},
                                "policies": {"type": "object"},
                            },
                        },
                        "each of total, receivers.<name>, policies.<name>: incidents, acknowledged,"
                        " resolved, escalated, escalation_steps, time_to_acknowledge_seconds and"
                        " time_to_resolve_seconds ({median, p90}, null without any)",
                    ),
                    params=[
                        _query(
                            "since", "how far back incidents began (default 7d; at most storage.retention)"
                        ),
                        _query("receiver", "one receiver only"),
                        _query("escalation", "one escalation policy only"),
                    ],
                )
            },
            "/api/v1/heartbeats": {
                "get": _op(
                    "Each heartbeat (the heartbeats: section): its last beat and state, as the"
                    " store has them (every replica answers the same)",
                    _json(
                        {
                            "type": "object",
                            "properties": {
                                "now": {"type": "number"},
                                "heartbeats": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                        "each heartbeat: name, receiver, matchers, interval and grace (seconds),"
                        " forward, state (healthy, late, missing or waiting: no beat yet), last_beat,"
                        " expected_since, missing_since (the raised alert's start; null when not"
                        " raised) and group_key (the HeartbeatMissing group)",
                    ),
                )
            },
            "/api/v1/schedules/{name}.ics": {
                "get": {
                    "summary": "The schedule's next eight weeks as an iCalendar feed, one event per shift",
                    "parameters": [_path("name", "the schedule's name")],
                    "responses": {
                        "200": {
                            "description": "text/calendar",
                            "content": {"text/calendar": {"schema": {"type": "string"}}},
                        },
                        "404": {"description": "no such schedule"},
                    },
                }
            },
            "/api/v1/schedules/{name}/overrides": {
                "get": _op(
                    "The schedule's overrides: the config's (by: config), then those made at run time",
                    _json({"type": "object"}, "schedule, time_zone, overrides"),
                    params=[_path("name", "the schedule's name")],
                ),
                "post": _op(
                    "Make an override: person (one of the schedule's), start, end (unix or ISO 8601 in"
                    " the schedule's zone), by, comment; at most 90 days",
                    _json({"type": "object"}, "the override, with its id"),
                    params=[_path("name", "the schedule's name")],
                    status="201",
                ),
            },
            "/api/v1/schedules/{name}/overrides/{id}": {
                "delete": _op(
                    "Remove an override made at run time",
                    _json({"type": "object"}, "deleted: the id"),
                    params=[_path("name", "the schedule's name"), _path("id", "the override's id")],
                )
            },
            "/api/v1/groups/{key}/ack": {
                "post": _op(
                    "Acknowledge a group: its repeats stop until its firing alerts change",
                    _json({"type": "object"}, "key, id, acknowledged (by, person, at, via, comment)"),
                    params=[_path("key", "the group's key, its id, or a unique prefix of either")],
                    body={
                        "type": "object",
                        "properties": {"by": {"type": "string"}, "comment": {"type": "string"}},
                    },
                )
            },
            "/api/v1/groups/{key}/unack": {
                "post": _op(
                    "Lift a group's acknowledgement",
                    _json({"type": "object"}, "key, id, acknowledged: null"),
                    params=[_path("key", "the group's key, its id, or a unique prefix of either")],
                )
            },
            "/api/v1/routes": {
                "get": _op(
                    "The route tree",
                    _json({"type": "object", "properties": {"tree": ref("Route")}}, "the tree"),
                )
            },
            "/api/v1/routes/test": {
                "post": _op(
                    "Receivers that these labels reach; each route's first wait and intervals",
                    _json(
                        {
                            "type": "object",
                            "properties": {
                                "receivers": {"type": "array", "items": {"type": "string"}},
                                "at": {"type": "number"},
                                "routes": {"type": "array", "items": ROUTE_REPORT},
                            },
                        },
                        "reached",
                    ),
                    body={
                        "type": "object",
                        "required": ["labels"],
                        "properties": {"labels": STR_MAP, "at": {"type": ["string", "number"]}},
                    },
                )
            },
            "/api/v1/config": {
                "get": _op("The effective config, every secret <secret>", _json(OBJ, "config"))
            },
            "/api/v1/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": _json(OBJ, "OpenAPI 3.1")}}
            },
        },
    }
