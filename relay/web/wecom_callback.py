"""``GET|POST /api/v1/wecom/callback``: the WeCom application's callback URL (应用 →
接收消息), where WeCom sends presses of the buttons relay's cards carry.

- **GET** is WeCom's URL check. ``echostr`` is decrypted and returned once its
  signature checks out for a config's ``token``.
- **POST** carries an encrypted event. In this order:
  1. relay takes only the ``<Encrypt>`` text out of the body, with a bounded search
     and no XML parser;
  2. it checks ``msg_signature`` and the timestamp (at most 5 minutes old);
  3. it refuses a nonce seen before;
  4. it decrypts (relay.channels.wecom_crypto), checks the corp id, and only then
     parses the event.
  A ``template_card_event`` whose key is one of relay's action tokens acts once,
  through the one action function. The card's buttons are then replaced, for everyone
  who got it, with one saying who did what (``update_template_card`` with the event's
  ``ResponseCode``).
- The presser is the person whose ``ids.wecom`` is their userid, else the userid.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from relay.channels.wecom_app import WeComAppNotifier
from relay.channels.wecom_crypto import WeComCryptoError, decrypt, signed
from relay.core.actions import ACKNOWLEDGE, BadToken, verify
from relay.core.alerts import Notification
from relay.core.errors import StoreUnavailable
from relay.core.secrets import redact
from relay.core.text import normalize_locale
from relay.web.group_actions import ACK, SILENCE, act

if TYPE_CHECKING:
    from relay.config import Config
    from relay.web.state import RelayState

logger = logging.getLogger("relay.wecom_callback")

CALLBACK_PATH = "/api/v1/wecom/callback"
MAX_BODY = 64 * 1024
MAX_AGE = 300.0
_ENCRYPT = re.compile(rb"<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]{1,60000})\]\]></Encrypt>")

WORDS = {
    "en": {"acked": "✅ {by} acknowledged", "silenced": "🔕 {by} until {until}"},
    "zh-CN": {"acked": "✅ {by} 已确认", "silenced": "🔕 {by} 静默至 {until}"},
}


def _apps(config: Config) -> list[tuple[str, Any]]:
    """(integration id, config) of every WeCom application entry with callback settings."""
    found = []
    for receiver in config.receivers:
        for integration, channel in receiver.integrations():
            if channel.kind == "wecom_app" and getattr(channel, "buttons", False):
                found.append((integration, channel))
    return found


def _matching(config: Config, params: dict[str, str], encrypted: str) -> list[tuple[str, Any]]:
    return [
        (integration, cfg)
        for integration, cfg in _apps(config)
        if signed(
            cfg.token.get_secret_value(),
            params.get("timestamp", ""),
            params.get("nonce", ""),
            encrypted,
            params.get("msg_signature", ""),
        )
    ]


def _refused(why: str, status: int = 401) -> Response:
    return PlainTextResponse(why, status)


async def verify_url(request: Request, state: RelayState) -> Response:
    """WeCom's URL check: the decrypted ``echostr``, when signed with a config's token."""
    params = dict(request.query_params)
    echo = params.get("echostr", "")
    matching = _matching(state.runtime.config, params, echo)
    if not echo or not matching:
        return _refused("bad msg_signature")
    _, cfg = matching[0]
    try:
        plain = decrypt(cfg.encoding_aes_key.get_secret_value(), echo, cfg.corp_id)
    except WeComCryptoError as exc:
        return _refused(f"cannot decrypt echostr: {exc}", 400)
    return PlainTextResponse(plain.decode("utf-8", "replace"))


async def receive(request: Request, state: RelayState) -> Response:
    """An encrypted event; see the module's order of checks."""
    params = dict(request.query_params)
    body = await request.body()
    if len(body) > MAX_BODY:
        return _refused(f"body over {MAX_BODY} bytes", 413)
    found = _ENCRYPT.search(body)
    if found is None:
        return _refused("no <Encrypt> in the body", 400)
    encrypted = found.group(1).decode()
    matching = _matching(state.runtime.config, params, encrypted)
    if not matching:
        return _refused("bad msg_signature")
    stamp = params.get("timestamp", "")
    if not stamp.isdigit() or abs(int(stamp) - state.clock.now()) > MAX_AGE:
        return _refused("timestamp too old or in the future")
    _, cfg = matching[0]
    try:
        seen = f"wecom-nonce:{cfg.corp_id}:{stamp}:{params.get('nonce', '')}"
        if not await state.store.add_ref(seen, {}, 2 * MAX_AGE):
            return _refused("a replay: this nonce was used")
        plain = decrypt(cfg.encoding_aes_key.get_secret_value(), encrypted, cfg.corp_id)
    except WeComCryptoError as exc:
        return _refused(f"cannot decrypt: {exc}", 400)
    except StoreUnavailable:
        return PlainTextResponse("storage unavailable", 503)
    try:
        event = {child.tag: (child.text or "") for child in ElementTree.fromstring(plain)}
    except ElementTree.ParseError:
        return _refused("the decrypted event is not XML", 400)
    if event.get("Event") == "template_card_event" and event.get("EventKey", "").startswith("r:"):
        try:
            await _press(state, cfg, event)
        except StoreUnavailable:
            return PlainTextResponse("storage unavailable", 503)
    return PlainTextResponse("")  # WeCom wants an empty 200 when nothing is replied


async def _press(state: RelayState, cfg: Any, event: dict[str, str]) -> None:
    config = state.runtime.config
    key = state.action_key.value
    try:
        if key is None:
            raise BadToken("not ready")
        token = verify(key, event["EventKey"].removeprefix("r:"), state.clock.now())
    except BadToken as exc:
        logger.warning("a WeCom button press named no valid action: %s", exc)
        return
    job = await state.store.get_job(token.job_id)
    mine = {i for i, c in _apps(config) if c.corp_id == cfg.corp_id and c.agent_id == cfg.agent_id}
    if job is None or job.integration not in mine or event.get("TaskId") != f"relay-{job.id}":
        logger.warning("a WeCom button press names no card of this app", extra={"task": event.get("TaskId")})
        return
    by = _presser(config, event.get("FromUserName", ""))
    outcome = await act(
        state,
        group_key=job.group_key,
        action=ACK if token.action == ACKNOWLEDGE else SILENCE,
        by=by,
        via="wecom",
        seconds=float(token.seconds),
        notification=Notification.model_validate(job.payload),
    )
    if not outcome.done:
        logger.warning("a WeCom button press did nothing: %s %s", outcome.problem, outcome.detail)
        return
    words = WORDS[normalize_locale(cfg.locale or config.global_.locale)]
    shown = state.runtime.names.get(by, by)
    if outcome.until is not None:
        zone = ZoneInfo(config.global_.timezone)
        until = datetime.fromtimestamp(outcome.until, zone).strftime("%H:%M")
        label = words["silenced"].format(by=shown, until=until)
    else:
        label = words["acked"].format(by=shown)
    await _update_card(state, job.integration, cfg, event.get("ResponseCode", ""), label)


def _presser(config: Config, userid: str) -> str:
    for person in config.people:
        if person.ids.get("wecom") == userid:
            return person.name
    return userid[:100] or "wecom user"


async def _update_card(state: RelayState, integration: str, cfg: Any, response_code: str, label: str) -> None:
    """Every receiver's card: its buttons become one that says who did what."""
    notifier = state.runtime.notifiers.get(integration)
    if not isinstance(notifier, WeComAppNotifier) or not response_code:
        return
    secrets = cfg.secrets()
    try:
        access = await notifier.access_token()
        url = f"{cfg.api_url}message/update_template_card?access_token={quote(access, safe='')}"
        body = {
            "atall": 1,
            "agentid": cfg.agent_id,
            "response_code": response_code,
            "button": {"replace_name": label[:40]},
        }
        answer = await state.http.post(url, json=body, timeout=10.0)
        data = answer.json()
    except Exception as exc:  # the action is done: only the card lags behind (DeliveryError, HTTP)
        logger.warning("WeCom update_template_card failed: %s", redact(str(exc), secrets))
        return
    if not isinstance(data, dict) or data.get("errcode") != 0:
        logger.warning("WeCom update_template_card refused: %s", redact(str(data)[:300], secrets))
