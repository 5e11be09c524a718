"""``POST /api/v1/slack/interactions``: the Slack app's interactivity URL.

A click on a button of relay's (relay.channels.slack_actions) arrives here signed with the app's
signing secret. The request is checked against the ``signing_secret`` of every Slack
config (a stale timestamp or a bad signature is 401 and does nothing), answered at once
(Slack gives up after 3 s), and the action runs in the background: a silence in
Alertmanager (``alertmanager:``) for the group's labels, or an acknowledgement kept in
relay's store that stops the group's repeat notifications until the group changes.
The message is then updated through the click's ``response_url``.

A signed request acts once: it is remembered in the store (across replicas) for as long
as its timestamp is accepted, and a replay is answered as the first was and does
nothing. A click from another workspace than the config's ``team_id`` is refused (403),
a user not in ``allowed_users`` is told so, and the button must be on a Slack
notification of the same app: a job id of an email or of another app acts on nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from relay.channels.slack import SlackConfig
from relay.channels.slack_actions import (
    ACKNOWLEDGE,
    SILENCE_FOR,
    acknowledged_line,
    failed_line,
    mention,
    silenced_line,
    with_status,
)
from relay.core.alerts import Notification
from relay.core.errors import StoreUnavailable
from relay.core.secrets import same_secret
from relay.core.text import ascii_int, normalize_locale
from relay.web.group_actions import ACK, SILENCE, act
from relay.web.ingest import error

if TYPE_CHECKING:
    from relay.config import Config
    from relay.web.state import RelayState

logger = logging.getLogger("relay.slack_interactions")

INTERACTIONS_PATH = "/api/v1/slack/interactions"
MAX_AGE = 300.0  # seconds a signed request stays valid (Slack's own advice)
# A click carries the whole message, form-encoded: a 40,000-character Chinese message is
# about 360 kB that way.
MAX_BODY = 1024 * 1024
_GONE = {
    "en": "relay no longer has this notification (older than storage.retention)",
    "zh-CN": "relay 已不再保存这条通知（超过 storage.retention）",
}
_NO_ALERTMANAGER = {
    "en": "relay has no alertmanager: section in its config",
    "zh-CN": "relay 的配置中没有 alertmanager: 一节",
}
_STORE_DOWN = {"en": "relay's storage is unavailable", "zh-CN": "relay 的存储不可用"}
_NOT_ALLOWED = {
    "en": "you are not among this channel's allowed_users in relay's config",
    "zh-CN": "你不在 relay 配置的 allowed_users 中",
}
_NOT_THIS_APP = {
    "en": "this button does not belong to a Slack notification of this app",
    "zh-CN": "此按钮不属于本应用发出的 Slack 通知",
}
_NOT_ACCEPTED = {"en": "Alertmanager did not accept it ({why})", "zh-CN": "Alertmanager 未接受（{why}）"}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: v0= HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signing_configs(config: Config) -> list[SlackConfig]:
    """Every Slack config with a signing secret (each may be a different Slack app)."""
    return [
        cfg
        for receiver in config.receivers
        for _, cfg in receiver.integrations()
        if isinstance(cfg, SlackConfig) and cfg.signing_secret is not None
    ]


def same_app(config: Config, app: SlackConfig) -> set[str]:
    """The integrations whose Slack messages carry ``app``'s buttons: Slack configs with
    the same signing secret (and workspace)."""
    secret = _secret(app)
    return {
        integration
        for receiver in config.receivers
        for integration, cfg in receiver.integrations()
        if isinstance(cfg, SlackConfig)
        and cfg.signing_secret is not None
        and same_secret(cfg.signing_secret.get_secret_value(), secret)
        and cfg.team_id == app.team_id
    }


@dataclass(frozen=True)
class Click:
    """One button click, verified."""

    config: SlackConfig
    action: str
    job_id: str
    user_id: str
    user_name: str
    team_id: str
    response_url: str
    message: dict[str, Any]


class SlackInteractions:
    """The endpoint and the actions it started (kept so they finish, and for tests)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: Request, state: RelayState) -> Response:
        configs = signing_configs(state.runtime.config)
        if not configs:
            return error(
                404,
                "Slack interactivity is not configured",
                ["set signing_secret (or signing_secret_file) in a slack_configs entry"],
            )
        body = await _body(request)
        if body is None:
            return error(413, f"body larger than {MAX_BODY} bytes")
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        sent_at = ascii_int(timestamp)
        if sent_at is None:
            return error(401, "missing or malformed X-Slack-Request-Timestamp header")
        if abs(state.clock.now() - sent_at) > MAX_AGE:
            return error(
                401,
                "stale request: X-Slack-Request-Timestamp is more than 5 minutes"
                " from relay's clock (a replay, or a clock out of sync)",
            )
        given = request.headers.get("x-slack-signature", "")
        config = next(
            (cfg for cfg in configs if same_secret(given, signature(_secret(cfg), timestamp, body))),
            None,
        )
        if config is None:
            return error(401, "X-Slack-Signature does not match any slack_configs signing_secret")
        click = _click(config, body)
        if isinstance(click, str):
            return error(400, click)
        if click is None:
            return Response(status_code=200)
        if config.team_id and click.team_id != config.team_id:
            return error(403, f"this Slack app's buttons act only in workspace {config.team_id}")
        try:
            first = await state.store.add_ref(
                f"slack-request:{hashlib.sha256(given.encode()).hexdigest()}",
                {"at": sent_at},
                ttl=2 * MAX_AGE,
            )
        except StoreUnavailable:
            return error(503, "relay's storage is unavailable; retry later", headers={"Retry-After": "5"})
        if not first:
            logger.info(
                "a Slack request seen before (a replay): nothing done", extra={"action": click.action}
            )
            return Response(status_code=200)
        task = asyncio.create_task(perform(click, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response(status_code=200)

    async def idle(self, at_most: float | None = None) -> None:
        """Wait until every started action has finished (or ``at_most`` seconds)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=at_most)


async def _body(request: Request) -> bytes | None:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            return None
    return bytes(data)


def _secret(config: SlackConfig) -> str:
    assert config.signing_secret is not None
    return config.signing_secret.get_secret_value()


def _click(config: SlackConfig, body: bytes) -> Click | str | None:
    """The click in a block_actions payload; None for anything relay does not act on
    (other interaction types, other apps' buttons); a string says what is malformed."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError):
        return "expected a form body with a JSON 'payload' field (Slack's interaction request)"
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    if not isinstance(action, dict):
        return "payload.actions: expected at least one action"
    action_id = str(action.get("action_id", ""))
    if action_id != ACKNOWLEDGE and action_id not in SILENCE_FOR:
        return None
    user = payload.get("user")
    if not isinstance(user, dict):
        user = {}
    team = payload.get("team")
    team_id = str(team.get("id", "")) if isinstance(team, dict) else ""
    response_url = str(payload.get("response_url") or "")
    if urlsplit(response_url).scheme not in ("http", "https"):
        return "payload.response_url: expected an https:// URL"
    message = payload.get("message")
    return Click(
        config=config,
        action=action_id,
        job_id=str(action.get("value", "")),
        user_id=str(user.get("id", "")),
        user_name=str(user.get("username") or user.get("name") or ""),
        team_id=team_id,
        response_url=response_url,
        message=message if isinstance(message, dict) else {},
    )


async def perform(click: Click, state: RelayState) -> None:
    """Do what the click asked and report it in the message; never raises."""
    config = state.runtime.config
    locale = normalize_locale(click.config.locale or config.global_.locale)
    user = mention(click.user_id, click.user_name)
    seconds = SILENCE_FOR.get(click.action)
    try:
        line = await _act(click, state, locale, user, seconds)
    except Exception:  # the user must hear back whatever happened
        logger.exception("Slack action %s failed", click.action)
        line = failed_line(locale, seconds, user, "internal error; see relay's log")
    await _report(click, state, line)


async def _act(click: Click, state: RelayState, locale: str, user: str, seconds: float | None) -> str:
    if click.config.allowed_users and click.user_id not in click.config.allowed_users:
        return failed_line(locale, seconds, user, _NOT_ALLOWED[locale])
    try:
        job = await state.delivery_log.get_job(click.job_id) if click.job_id else None
    except StoreUnavailable:
        return failed_line(locale, seconds, user, _STORE_DOWN[locale])
    if job is None:
        return failed_line(locale, seconds, user, _GONE[locale])
    if job.integration not in same_app(state.runtime.config, click.config):
        logger.warning(
            "a Slack click named a notification that is not this Slack app's: nothing done",
            extra={"job_id": job.id, "integration": job.integration},
        )
        return failed_line(locale, seconds, user, _NOT_THIS_APP[locale])
    notification = Notification.model_validate(job.payload)
    # The person whose ids.slack is the clicker's user id, else their Slack name.
    people = state.runtime.config.people
    by = next(
        (p.name for p in people if p.ids.get("slack") == click.user_id), click.user_name or click.user_id
    )
    action, seconds_ = (ACK, 0.0) if seconds is None else (SILENCE, float(seconds))
    try:
        outcome = await act(
            state,
            group_key=job.group_key,
            action=action,
            by=by,
            via="slack",
            seconds=seconds_,
            notification=notification,
        )
    except StoreUnavailable:
        return failed_line(locale, seconds, user, _STORE_DOWN[locale])
    if outcome.done and seconds is None:
        return acknowledged_line(locale, user)
    if outcome.done and outcome.until is not None:
        ends = datetime.fromtimestamp(outcome.until, UTC)
        return silenced_line(locale, seconds_, user, ends, state.runtime.config.global_.timezone)
    if outcome.problem == "no_alertmanager":
        return failed_line(locale, seconds, user, _NO_ALERTMANAGER[locale])
    return failed_line(locale, seconds, user, _NOT_ACCEPTED[locale].format(why=outcome.detail))


async def _report(click: Click, state: RelayState, line: str) -> None:
    """Show ``line`` under the message's buttons; a new reply when the message did not
    come with the click."""
    body = with_status(click.message, line) or {
        "replace_original": False,
        "response_type": "in_channel",
        "text": line,
    }
    try:
        response = await state.http.post(click.response_url, json=body, timeout=10.0)
    except Exception as exc:
        logger.warning("cannot update the Slack message: %s: %s", type(exc).__name__, exc)
        return
    if response.status_code != 200:
        logger.warning(
            "Slack did not take the message update: HTTP %s: %s", response.status_code, response.text[:200]
        )
