"""The schemas of relay's OpenAPI document (relay.web.console.openapi): the shapes the
console's JSON API answers with."""

from __future__ import annotations

from typing import Any

from relay.channels import CHANNELS_BY_KIND
from relay.core.digests import DIGEST_KINDS

OBJ: dict[str, Any] = {"type": "object"}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


NUM_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
STR_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "details": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Attempt": {
        "type": "object",
        "properties": {
            "at": {"type": "number"},
            "duration": {"type": "number"},
            "outcome": {"enum": ["delivered", "retry", "dead"]},
            "reason": {"type": "string"},
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "sent": {
                "type": "array",
                "items": {"type": "string"},
                "description": "each part exactly as sent, secrets redacted (not in lists)",
            },
        },
    },
    "Action": {
        "type": "object",
        "properties": {
            "action": {"enum": ["retry", "resend", "resent_from"]},
            "by": {"type": "string"},
            "at": {"type": "number"},
            "job": {"type": "string"},
        },
    },
    "Notification": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "receiver": {"type": "string"},
            "integration": {"type": "string"},
            "group_key": {"type": "string"},
            "status": {"enum": ["pending", "running", "delivered", "dead"]},
            "retrying": {"type": "boolean"},
            "created_at": {"type": "number"},
            "next_attempt_at": NUM_OR_NULL,
            "finished_at": NUM_OR_NULL,
            "attempts": {"type": "array", "items": ref("Attempt")},
            "last_error": {"type": "string"},
            "alerts": {"type": "integer"},
            "status_of_group": {"enum": ["firing", "resolved", None]},
            "alertnames": {"type": "array", "items": {"type": "string"}},
            "actions": {"type": "array", "items": ref("Action")},
            "group_acknowledged": {"type": ["object", "null"], "description": "only in lists"},
            "digest_id": {
                "type": ["string", "null"],
                "description": "merged into this storm digest's notification",
            },
            "digest": {
                "oneOf": [ref("Digest"), {"type": "null"}],
                "description": "set when this notification is a digest",
            },
            "digest_job": {
                "type": ["object", "null"],
                "description": (
                    "only on GET /notifications/{id}: the digest it was merged into, "
                    "{id, status, created_at, finished_at, digest}; null if none or pruned"
                ),
            },
            "notification": {"type": "object", "description": "only on GET /notifications/{id}"},
        },
    },
    "Digest": {
        "type": "object",
        "properties": {
            "kind": {"enum": list(DIGEST_KINDS)},
            "groups": {"type": "integer"},
            "firing": {"type": "integer"},
            "resolved": {"type": "integer"},
            "jobs": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the notifications merged into it",
            },
        },
    },
    "Page": {
        "type": "object",
        "properties": {
            "next_cursor": {
                "type": ["string", "null"],
                "description": "pass as cursor for the next page; null at the end",
            }
        },
    },
    "Integration": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "health": {"enum": ["ok", "failing", "idle"]},
            "last": {"type": ["object", "null"]},
            "hour": OBJ,
            "day": OBJ,
            "queue": {"type": "integer"},
            "oldest_pending_at": NUM_OR_NULL,
            "dead": {"type": "integer"},
            "rate_limit": {"type": ["object", "null"]},
        },
    },
    "Overview": {
        "type": "object",
        "properties": {
            "now": {"type": "number"},
            "config": OBJ,
            "storage": OBJ,
            "queue": {"type": ["object", "null"]},
            "read_only": {"type": "boolean"},
            "receivers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "integrations": {"type": "array", "items": ref("Integration")},
                    },
                },
            },
        },
    },
    "Group": {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "receiver": {"type": "string"},
            "route_id": {"type": "string"},
            "labels": STR_MAP,
            "alerts": {"description": "a count in lists, the alerts on GET /groups/{key}"},
            "firing": {"type": "integer"},
            "created_at": {"type": "number"},
            "updated_at": {"type": "number"},
            "next_flush_at": NUM_OR_NULL,
            "silence_url": {"type": ["string", "null"]},
            "acknowledged": {
                "type": ["object", "null"],
                "description": "{by, at} when acknowledged from Slack: no repeat until it changes",
            },
            "held": {
                "type": "array",
                "items": {"type": "string"},
                "description": "integrations whose notification a hold window keeps",
            },
            "held_until": NUM_OR_NULL,
            "integrations": {"type": "array", "items": OBJ},
        },
    },
    "Webhook": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "received_at": {"type": "number"},
            "receiver": {"type": "string"},
            "bytes": {"type": "integer"},
            "alerts": {"type": "integer"},
            "status": {"type": ["string", "null"]},
            "group_key": {"type": ["string", "null"]},
            "body": OBJ,
        },
    },
    "RenderRequest": {
        "type": "object",
        "properties": {
            "integration": {"type": "string", "examples": ["oncall/wecom/0"]},
            "channel": {"enum": list(CHANNELS_BY_KIND)},
            "locale": {"enum": ["en", "zh-CN"]},
            "webhook_id": {"type": "string"},
            "payload": {"type": "object", "description": "an Alertmanager v4 webhook"},
            "digest": {
                "enum": list(DIGEST_KINDS),
                "description": "render only: the digest the "
                "payload's group as `groups` groups would be merged into",
            },
            "groups": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
        },
    },
    "Rendered": {
        "type": "object",
        "properties": {
            "integration": {"type": "string"},
            "channel": {"type": "string"},
            "digest": {"enum": [*DIGEST_KINDS, None]},
            "note": {"type": "string"},
            "locale": {"type": "string"},
            "ok": {"type": "boolean"},
            "problems": {"type": "array", "items": {"type": "string"}},
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "string"},
                        "text": {"type": "string"},
                        "size": {"type": "integer"},
                        "unit": {"type": "string"},
                        "limit": {"type": ["integer", "null"]},
                        "over": {"type": "boolean"},
                    },
                },
            },
        },
    },
    "Route": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "receiver": {"type": "string"},
            "matchers": {"type": "array", "items": {"type": "string"}},
            "group_by": {"type": "array", "items": {"type": "string"}},
            "passthrough": {"type": "boolean"},
            "group_wait": {"type": "number"},
            "group_interval": {"type": "number"},
            "repeat_interval": {"type": "number"},
            "continue": {"type": "boolean"},
            "routes": {"type": "array", "items": ref("Route")},
        },
    },
}

#: One route reached by ``POST /api/v1/routes/test`` (relay.pipeline.route_report).
ROUTE_REPORT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "receiver": {"type": "string"},
        "group_by": {"type": "array", "items": {"type": "string"}},
        "passthrough": {"type": "boolean"},
        "group_wait": {"type": "number"},
        "relay_wait": {
            "type": "number",
            "description": "seconds relay waits before a new group's first notification",
        },
        "first_wait_with_alertmanager_default": {"type": "number"},
        "first_notification": {"type": "string"},
        "gate": {"type": "string", "enum": ["send", "held", "muted", "inactive"]},
        "gate_until": {"type": ["number", "null"]},
        "gate_text": {"type": "string"},
        "escalation": {"type": ["string", "null"]},
        "intervals": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["active", "mute", "hold"]},
                    "names": {"type": "array", "items": {"type": "string"}},
                    "in_force": {"type": "array", "items": {"type": "string"}},
                    "effect": {
                        "type": "string",
                        "enum": ["active", "inactive", "muted", "not_muted", "held", "not_held"],
                    },
                    "effect_text": {"type": "string"},
                    "changes_at": {"type": ["number", "null"]},
                },
            },
        },
    },
}
