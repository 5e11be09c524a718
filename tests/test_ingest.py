"""Every status code of POST /api/v1/alerts/webhook, and what each one promises."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from relay.core.errors import StoreUnavailable
from tests.helpers.asgi import call_asgi
from tests.helpers.webhooks import alert, sample, webhook

OPEN = """
server:
  max_body_bytes: 2048
route:
  receiver: team
receivers:
  - name: team
    log_configs: [{}]
  - name: other
    log_configs: [{}]
"""

BEARER = OPEN.replace(
    "  max_body_bytes: 2048", "  max_body_bytes: 2048\n  auth:\n    bearer_token: s3cret-token"
)
BASIC = OPEN.replace(
    "  max_body_bytes: 2048",
    "  max_body_bytes: 2048\n  auth:\n    basic_auth: {username: am, password: pa55word}",
)
GOOD = json.dumps(webhook(alert())).encode()
JSON = {"content-type": "application/json"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


CASES = [
    # (name, config, headers, body, expected status, expected text in body)
    ("accepted", OPEN, JSON, GOOD, 200, "accepted"),
    (
        "accepted with +json type and charset",
        OPEN,
        {"content-type": "application/vnd.alertmanager+json; charset=utf-8"},
        GOOD,
        200,
        "accepted",
    ),
    ("bad json", OPEN, JSON, b'{"version": "4", ', 400, "not valid JSON"),
    ("bearer missing", BEARER, JSON, GOOD, 401, "credentials"),
    ("bearer wrong", BEARER, {**JSON, "authorization": "Bearer nope"}, GOOD, 401, "credentials"),
    ("bearer right", BEARER, {**JSON, "authorization": "Bearer s3cret-token"}, GOOD, 200, "accepted"),
    ("basic wrong", BASIC, {**JSON, "authorization": basic("am", "x")}, GOOD, 401, "credentials"),
    ("basic garbage", BASIC, {**JSON, "authorization": "Basic !!!"}, GOOD, 401, "credentials"),
    ("basic right", BASIC, {**JSON, "authorization": basic("am", "pa55word")}, GOOD, 200, "accepted"),
    ("too large", OPEN, JSON, b"[" + b" " * 4096 + b"]", 413, "max_body_bytes"),
    ("not json type", OPEN, {"content-type": "text/plain"}, GOOD, 415, "application/json"),
    ("no content type", OPEN, {}, GOOD, 415, "application/json"),
    (
        "schema",
        OPEN,
        JSON,
        json.dumps({"version": "4", "alerts": [{"status": "on"}]}).encode(),
        422,
        "alerts[0].status",
    ),
    ("wrong version", OPEN, JSON, json.dumps({**webhook(alert()), "version": "3"}).encode(), 422, "version"),
    ("top level not an object", OPEN, JSON, b"[]", 422, "v4 webhook"),
]


@pytest.mark.parametrize(
    ("name", "config", "headers", "body", "status", "text"), CASES, ids=[c[0] for c in CASES]
)
async def test_ingest_status_codes(relay_factory, name, config, headers, body, status, text) -> None:
    async with relay_factory(config) as relay:
        response = await relay.client.post("/api/v1/alerts/webhook", content=body, headers=headers)
        assert response.status_code == status, response.text
        assert text in response.text
        if status != 200:
            assert set(response.json()) == {"error", "details"}
            assert "Traceback" not in response.text
        if status == 401:
            assert response.headers["www-authenticate"].split()[0] in ("Bearer", "Basic")
        metric = relay.state.metrics.registry.get_sample_value(
            "relay_webhooks_received_total", {"code": str(status)}
        )
        assert metric == 1


async def test_422_names_every_bad_field(relay_factory) -> None:
    body = webhook(alert())
    body["alerts"][0]["startsAt"] = "yesterday"
    del body["alerts"][0]["labels"]
    async with relay_factory(OPEN) as relay:
        response = await relay.post(body)
    assert response.status_code == 422
    details = response.json()["details"]
    assert any(d.startswith("alerts[0].startsAt:") for d in details)
    assert any(d.startswith("alerts[0].labels:") for d in details)


async def test_413_on_a_chunked_body_without_content_length(relay_factory) -> None:
    async def chunks():
        for _ in range(10):
            yield b" " * 1024

    async with relay_factory(OPEN) as relay:
        response = await relay.client.post("/api/v1/alerts/webhook", content=chunks(), headers=JSON)
    assert response.status_code == 413


async def test_503_with_retry_after_when_storage_fails_and_nothing_is_half_accepted(
    relay_factory,
    monkeypatch,
) -> None:
    async with relay_factory(OPEN) as relay:

        async def down(updates):
            raise StoreUnavailable("disk I/O error")

        original = relay.state.store.apply
        monkeypatch.setattr(relay.state.store, "apply", down)
        response = await relay.post(webhook(alert()))
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        monkeypatch.setattr(relay.state.store, "apply", original)
        assert await relay.jobs() == []
        # Alertmanager retries the same webhook: now it is accepted, exactly once.
        assert (await relay.post(webhook(alert()))).status_code == 200
        assert len(await relay.jobs()) == 1


async def test_unknown_extra_keys_are_accepted(relay_factory) -> None:
    body = sample("alertmanager-0.25-partly-resolved")
    body["notification_reason"] = "new_alerts"
    body["routeLabels"] = {"team": "infra"}
    body["alerts"][0]["newField"] = {"nested": True}
    async with relay_factory(OPEN) as relay:
        response = await relay.post(body)
    assert response.status_code == 200
    assert response.json()["alerts"] == 3


async def test_captured_samples_are_accepted_and_notify(relay_factory) -> None:
    async with relay_factory(OPEN) as relay:
        for name in ("alertmanager-0.25-firing", "alertmanager-0.25-partly-resolved"):
            assert (await relay.post(sample(name))).status_code == 200
        jobs = await relay.jobs()
        assert len(jobs) == 2  # the second adds node-2 (new firing) and a resolved node-3


async def test_receiver_path_skips_routing_and_404s_unknown(relay_factory) -> None:
    async with relay_factory(OPEN) as relay:
        assert (await relay.post(webhook(alert()), receiver="other")).status_code == 200
        jobs = await relay.jobs()
        assert [j.receiver for j in jobs] == ["other"]
        response = await relay.post(webhook(alert()), receiver="nobody")
        assert response.status_code == 404
        assert "nobody" in response.json()["error"]


async def test_health_endpoints_are_open_and_api_is_protected(relay_factory) -> None:
    async with relay_factory(BEARER) as relay:
        assert (await relay.client.get("/-/healthy")).status_code == 200
        assert (await relay.client.get("/-/ready")).status_code == 200
        assert (await relay.client.get("/metrics")).status_code == 200
        assert (await relay.client.get("/api/v1/status")).status_code == 401
        assert (await relay.client.post("/-/reload")).status_code == 401
        ok = await relay.client.get("/api/v1/status", headers={"authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert "s3cret-token" not in ok.text


async def test_not_ready_when_storage_is_unreachable(relay_factory, monkeypatch) -> None:
    async with relay_factory(OPEN) as relay:

        async def down() -> None:
            raise StoreUnavailable("gone")

        monkeypatch.setattr(relay.state.store, "ping", down)
        assert (await relay.client.get("/-/ready")).status_code == 503
        assert (await relay.client.get("/-/healthy")).status_code == 200


async def test_unknown_path_and_method_are_json_errors(relay_factory) -> None:
    async with relay_factory(OPEN) as relay:
        missing = await relay.client.get("/nope")
        wrong = await relay.client.get("/api/v1/alerts/webhook")
    assert missing.status_code == 404 and missing.json()["error"]
    assert wrong.status_code == 405 and wrong.json()["error"]


async def test_metrics_expose_the_design_names(relay_factory) -> None:
    async with relay_factory(OPEN) as relay:
        await relay.post(webhook(alert()))
        await relay.post(webhook(alert()))
        text = (await relay.client.get("/metrics")).text
    for name in (
        'relay_webhooks_received_total{code="200"} 2.0',
        'relay_alerts_received_total{status="firing"} 2.0',
        'relay_notifications_suppressed_total{reason="duplicate",receiver="team"} 1.0',
        'relay_queue_jobs{state="pending"} 1.0',
        "relay_config_last_reload_successful 1.0",
    ):
        assert name in text


# -- an accepted webhook that sends nothing says why ------------------------------------

NO_RESOLVED = OPEN.replace(
    "log_configs: [{}]\n  - name: other", "log_configs: [{send_resolved: false}]\n  - name: other"
)


async def test_an_ha_copy_answers_why_it_sent_nothing(relay_factory) -> None:
    async with relay_factory(OPEN) as relay:
        first = await relay.post(webhook(alert()))
        sent_at = relay.clock.now()
        relay.clock.advance(7)
        copy = await relay.post(webhook(alert()))
    assert first.json() == {"status": "accepted", "alerts": 1, "notifications": 1, "suppressed": []}
    assert copy.json() == {
        "status": "accepted",
        "alerts": 1,
        "notifications": 0,
        "suppressed": [
            {"receiver": "team", "integration": "team/log/0", "reason": "duplicate", "last_sent": sent_at}
        ],
        "timezone": "UTC",  # global.timezone, for showing last_sent as relay does
    }


async def test_resolved_without_send_resolved_answers_resolved_not_sent(relay_factory) -> None:
    async with relay_factory(NO_RESOLVED) as relay:
        await relay.post(webhook(alert()))
        sent_at = relay.clock.now()
        relay.clock.advance(60)
        answer = await relay.post(webhook(alert(status="resolved")))
    assert answer.json()["notifications"] == 0
    assert answer.json()["suppressed"] == [
        {"receiver": "team", "integration": "team/log/0", "reason": "resolved_not_sent", "last_sent": sent_at}
    ]


# -- bad input is a 4xx naming the field, never a 500 -----------------------------------


def _with(path: str, value: object) -> bytes:
    """A good webhook with ``value`` set at a dotted path ('alerts.0.endsAt')."""
    body = webhook(alert())
    node: object = body
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value  # type: ignore[index]
    return json.dumps(body).encode()


UNSTORABLE = [
    # (name, body, field path the 422 must name)
    ("integer beyond 64 bits in an extra alert field", _with("alerts.0.value", 2**64), "alerts[0].value"),
    (
        "negative integer beyond 64 bits nested in an extra field",
        _with("alerts.0.extra", {"a": [1, -(2**63) - 1]}),
        "alerts[0].extra",
    ),
    ("integer beyond 64 bits in truncatedAlerts", _with("truncatedAlerts", 2**70), "truncatedAlerts"),
    ("integer beyond 64 bits in a top-level extra field", _with("routeLabels", {"n": 10**30}), "routeLabels"),
    (
        "endsAt overflows when converted to UTC",
        _with("alerts.0.endsAt", "9999-12-31T23:59:59-01:00"),
        "alerts[0].endsAt",
    ),
    (
        "startsAt overflows when converted to UTC",
        _with("alerts.0.startsAt", "0001-01-01T00:00:00+01:00"),
        "alerts[0].startsAt",
    ),
    (
        "startsAt cannot be shown in every time zone",
        _with("alerts.0.startsAt", "9999-12-31T23:00:00Z"),
        "alerts[0].startsAt",
    ),
    ("NaN is not a JSON number", _with("alerts.0.value", 1.0).replace(b"1.0", b"NaN"), "alerts[0].value"),
    (
        "Infinity is not a JSON number",
        _with("alerts.0.value", 1.0).replace(b"1.0", b"-Infinity"),
        "alerts[0].value",
    ),
    (
        "an extra field nested too deeply",
        _with("alerts.0.deep", json.loads("[" * 100 + "]" * 100)),
        "alerts[0].deep",
    ),
]


@pytest.mark.parametrize(("name", "body", "where"), UNSTORABLE, ids=[c[0] for c in UNSTORABLE])
async def test_unstorable_values_are_422_naming_the_field(relay_factory, caplog, name, body, where) -> None:
    async with relay_factory(OPEN.replace("2048", "65536")) as relay:
        response = await relay.client.post("/api/v1/alerts/webhook", content=body, headers=JSON)
        assert response.status_code == 422, response.text
        assert any(d.startswith(f"{where}:") for d in response.json()["details"]), response.text
        assert (
            relay.state.metrics.registry.get_sample_value("relay_webhooks_received_total", {"code": "422"})
            == 1
        )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_dates_are_normalised_to_utc_and_go_zero_end_is_open(relay_factory) -> None:
    body = webhook(alert())
    body["alerts"][0]["startsAt"] = "2026-11-22T14:25:51+08:00"
    body["alerts"][0]["endsAt"] = "0001-01-01T00:00:00+01:00"  # Go's zero time, any offset
    async with relay_factory(OPEN) as relay:
        assert (await relay.post(body)).status_code == 200
        [job] = await relay.jobs()
    stored = job.payload["alerts"][0]
    assert stored["startsAt"].startswith("2026-11-22T06:25:51")
    assert stored["endsAt"] is None  # open: never shown as year 1


async def test_an_unexpected_error_is_a_counted_500_logged_once(relay_factory, monkeypatch, caplog) -> None:
    async with relay_factory(OPEN) as relay:

        async def broken(updates):
            raise RuntimeError("a bug")

        monkeypatch.setattr(relay.state.store, "apply", broken)
        response = await relay.post(webhook(alert()))
        assert response.status_code == 500
        assert set(response.json()) == {"error", "details"}
        assert "a bug" not in response.text and "Traceback" not in response.text
        assert (
            relay.state.metrics.registry.get_sample_value("relay_webhooks_received_total", {"code": "500"})
            == 1
        )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None


async def _call_asgi(app, body_events: list[dict], hang: bool = False) -> list[dict]:
    """The webhook path: the body arrives as ``body_events``, then (``hang``) nothing more
    ever arrives, or the client is gone (http.disconnect)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
    return await call_asgi(app, "/api/v1/alerts/webhook", headers, body_events, hang=hang)


async def test_a_client_disconnect_mid_body_is_a_debug_line(relay_factory, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="relay")
    async with relay_factory(OPEN) as relay:
        await _call_asgi(relay.app, [{"type": "http.request", "body": b'{"ver', "more_body": True}])
        assert (
            relay.state.metrics.registry.get_sample_value("relay_webhooks_received_total", {"code": "499"})
            == 1
        )
        assert await relay.jobs() == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and "disconnect" in r.getMessage()]
    assert len(debug) == 1 and debug[0].exc_info is None


async def test_a_body_that_stops_arriving_is_a_408(relay_factory) -> None:
    config = OPEN.replace("  max_body_bytes: 2048", "  max_body_bytes: 2048\n  read_timeout: 50ms")
    async with relay_factory(config) as relay:
        sent = await _call_asgi(
            relay.app, [{"type": "http.request", "body": b"{", "more_body": True}], hang=True
        )
        assert sent[0]["status"] == 408
        assert (b"connection", b"close") in sent[0]["headers"]
        assert (
            relay.state.metrics.registry.get_sample_value("relay_webhooks_received_total", {"code": "408"})
            == 1
        )


async def test_answers_the_router_gives_under_the_webhook_path_are_counted(relay_factory) -> None:
    async with relay_factory(OPEN) as relay:
        codes = [
            (await relay.client.post("/api/v1/alerts/webhook/", content=GOOD, headers=JSON)).status_code,
            (await relay.client.post("/api/v1/alerts/webhook/a/b", content=GOOD, headers=JSON)).status_code,
            (await relay.client.get("/api/v1/alerts/webhook")).status_code,
        ]
        counted = {
            code: relay.state.metrics.registry.get_sample_value(
                "relay_webhooks_received_total", {"code": str(code)}
            )
            for code in codes
        }
    assert codes == [307, 404, 405]
    assert counted == {307: 1, 404: 1, 405: 1}


# -- bodies parsed lately (relay.web.parsed) ----------------------------------------------

BODY_PIECES = [
    json.dumps(webhook(alert())),
    json.dumps(webhook(alert(status="resolved"), alert(instance="n2"))),
    json.dumps(webhook(alert(name="告警"))),
    '{"version": "4"}',
    "not json",
    json.dumps(webhook(alert()))[:-5],
    json.dumps({**webhook(alert()), "version": "3"}),
]


def test_a_body_parsed_again_is_what_a_fresh_parse_makes() -> None:
    from pydantic import ValidationError

    from relay.core.alerts import WebhookPayload
    from relay.web.parsed import ParsedWebhooks

    parsed = ParsedWebhooks(kept=3)
    rounds = [piece.encode() for piece in BODY_PIECES] * 3
    for body in rounds + rounds[::-1]:
        try:
            fresh = WebhookPayload.model_validate_json(body)
        except ValidationError as exc:
            with pytest.raises(ValidationError) as raised:
                parsed.parse(body)
            assert raised.value.errors() == exc.errors()
            continue
        assert parsed.parse(body).model_dump() == fresh.model_dump()


GROUPED = """
route:
  receiver: team
  routes:
    - matchers: ['severity="critical"']
      receiver: team
      group_by: [instance]
      group_wait: 0s
      continue: true
    - receiver: team
receivers:
  - name: team
    log_configs: [{level: debug}, {level: debug, send_resolved: false}]
"""


async def test_a_shared_parsed_webhook_is_left_as_it_was_parsed(relay_factory) -> None:
    """The same body, posted again and again through pass-through and group_by routes,
    delivered, acknowledged, flushed: the payload the requests share never changes."""
    from relay.core.alerts import WebhookPayload

    body = webhook(alert(severity="critical"), alert(instance="n2", status="resolved"), alert(instance="n3"))
    raw = json.dumps(body).encode()
    async with relay_factory(GROUPED) as relay:
        headers = {"Content-Type": "application/json"}
        for _ in range(3):
            answer = await relay.client.post("/api/v1/alerts/webhook", content=raw, headers=headers)
            assert answer.status_code == 200
            await relay.flush()
            await relay.deliver_all()
            relay.clock.advance(3601)
        shared = relay.state.parsed_webhooks.parse(raw)
        assert shared is relay.state.parsed_webhooks.parse(raw)
        assert shared.model_dump() == WebhookPayload.model_validate_json(raw).model_dump()
        assert len(await relay.jobs()) >= 4
