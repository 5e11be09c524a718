"""``POST /api/v1/feishu/callback``: where a Feishu app (``feishu_app_configs`` with a
``verification_token``) sends presses of its cards' buttons (事件与回调 → 回调配置 →
卡片回传交互, ``card.action.trigger``).

In this order:
1. **Signature.** With the app's Encrypt Key, Feishu signs each callback:
   ``X-Lark-Signature`` is the SHA-256 hex of the timestamp, the nonce, the encrypt key
   and the raw body. relay checks it, and that the timestamp is at most 5 minutes
   off, before it reads the body. An unsigned request is answered only when it is
   Feishu's URL check (``url_verification``, which Feishu does not sign) with the
   right verification token; nothing else is done for it.
2. **Decryption.** A body ``{"encrypt": ...}`` is AES-256-CBC with the key the SHA-256
   of the encrypt key, and the IV the first 16 bytes.
3. **Token, freshness, replay.** ``header.token`` must be the app's verification
   token; ``header.create_time`` at most 5 minutes old; ``header.event_id`` not seen
   before (kept in the store for every replica).

A press of relay's button carries an action token (relay.core.actions) in its value.
relay acts once, through the one action function, and answers within Feishu's 3
seconds with a toast and the card updated for the whole chat: its buttons become a line
saying who did what. The presser is the person whose ``ids.feishu`` is their open_id,
else the open_id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay.channels.base import Message
from relay.channels.feishu_app import VALUE_KEY
from relay.core.actions import ACKNOWLEDGE, BadToken, verify
from relay.core.alerts import Notification
from relay.core.errors import StoreUnavailable
from relay.core.secrets import same_secret
from relay.core.text import normalize_locale
from relay.web.group_actions import ACK, SILENCE, act

if TYPE_CHECKING:
    from relay.config import Config
    from relay.web.state import RelayState

logger = logging.getLogger("relay.feishu_callback")

CALLBACK_PATH = "/api/v1/feishu/callback"
MAX_BODY = 64 * 1024
MAX_AGE = 300.0
WORDS = {
    "en": {
        "acked": "✅ {by} acknowledged",
        "silenced": "🔕 {by} silenced until {until}",
        "invalid": "Not a button of this relay",
    },
    "zh-CN": {"acked": "✅ {by} 已确认", "silenced": "🔕 {by} 已静默至 {until}", "invalid": "无效的按钮"},
}


class NotFeishus(ValueError):
    """A callback that is not the app's: refused before anything is done."""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _apps(config: Config) -> list[tuple[str, Any]]:
    found = []
    for receiver in config.receivers:
        for integration, channel in receiver.integrations():
            if channel.kind == "feishu_app" and getattr(channel, "buttons", False):
                found.append((integration, channel))
    return found


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """Feishu's encrypted body: AES-256-CBC, key SHA-256(encrypt key), IV its first 16 bytes."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise NotFeishus("the encrypted body is not base64") from None
    if len(raw) < 32 or len(raw) % 16:
        raise NotFeishus("the encrypted body is not whole AES blocks")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    plain = decryptor.update(raw[16:]) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise NotFeishus("the encrypted body does not decrypt with this encrypt key")
    return plain[:-pad]


def _signed_by(
    apps: list[tuple[str, Any]], request: Request, body: bytes, now: float
) -> tuple[str, Any] | None:
    """The app whose encrypt key signed this request; None when it is unsigned. NotFeishus
    when it is signed, but by no app, or too long ago."""
    signature = request.headers.get("x-lark-signature")
    if signature is None:
        return None
    stamp = request.headers.get("x-lark-request-timestamp", "")
    nonce = request.headers.get("x-lark-request-nonce", "")
    for integration, cfg in apps:
        if cfg.encrypt_key is None:
            continue
        signed = (stamp + nonce + cfg.encrypt_key.get_secret_value()).encode() + body
        expected = hashlib.sha256(signed).hexdigest()
        if hmac.compare_digest(expected, signature.lower()):
            if not stamp.isdigit() or abs(int(stamp) - now) > MAX_AGE:
                raise NotFeishus("timestamp too old or in the future")
            return integration, cfg
    raise NotFeishus("bad X-Lark-Signature")


def _payload(
    apps: list[tuple[str, Any]], body: bytes, signer: tuple[str, Any] | None
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """The callback's JSON (decrypted), and the apps it may be from."""
    try:
        outer = json.loads(body)
    except ValueError:
        raise NotFeishus("not JSON") from None
    if not isinstance(outer, dict):
        raise NotFeishus("not a JSON object")
    candidates = [signer] if signer is not None else apps
    if "encrypt" not in outer:
        return outer, candidates
    for integration, cfg in candidates:
        if cfg.encrypt_key is None:
            continue
        try:
            inner = json.loads(decrypt(cfg.encrypt_key.get_secret_value(), str(outer["encrypt"])))
        except (NotFeishus, ValueError):
            continue
        if isinstance(inner, dict):
            return inner, [(integration, cfg)]
    raise NotFeishus("the encrypted body does not decrypt with any app's encrypt key")


async def receive(request: Request, state: RelayState) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, 413)
    apps = _apps(state.runtime.config)
    now = state.clock.now()
    try:
        signer = _signed_by(apps, request, body, now)
        payload, candidates = _payload(apps, body, signer)
        token = str(payload.get("token") or (payload.get("header") or {}).get("token") or "")
        matching = [
            (i, c) for i, c in candidates if same_secret(token, c.verification_token.get_secret_value())
        ]
        if not token or not matching:
            raise NotFeishus("wrong verification token")
        if payload.get("type") == "url_verification":
            return JSONResponse({"challenge": str(payload.get("challenge", ""))})
        integration, cfg = matching[0]
        if cfg.encrypt_key is not None and signer is None:
            raise NotFeishus("unsigned: with an encrypt key, Feishu signs every callback")
        header = _obj(payload.get("header"))
        created = str(header.get("create_time", ""))
        if not created.isdigit() or abs(int(created) / 1000 - now) > MAX_AGE:
            raise NotFeishus("create_time too old or in the future")
        if header.get("event_type") != "card.action.trigger":
            return JSONResponse({})
        event_id = str(header.get("event_id", ""))
        if not event_id or not await state.store.add_ref(f"feishu-event:{event_id}", {}, 2 * MAX_AGE):
            raise NotFeishus("a replay: this event_id was seen")
    except NotFeishus as exc:
        return JSONResponse({"error": str(exc)}, 401)
    except StoreUnavailable:
        return JSONResponse({"error": "storage unavailable"}, 503)
    event = _obj(payload.get("event"))
    try:
        return JSONResponse(await _press(state, integration, cfg, event))
    except StoreUnavailable:
        return JSONResponse({"error": "storage unavailable"}, 503)


async def _press(state: RelayState, integration: str, cfg: Any, event: dict[str, Any]) -> dict[str, Any]:
    config = state.runtime.config
    words = WORDS[normalize_locale(cfg.locale or config.global_.locale)]
    action = _obj(event.get("action"))
    value = _obj(action.get("value"))
    key = state.action_key.value
    try:
        if key is None or not isinstance(value.get(VALUE_KEY), str):
            raise BadToken("not relay's")
        token = verify(key, value[VALUE_KEY], state.clock.now())
    except BadToken:
        return {"toast": {"type": "error", "content": words["invalid"]}}
    job = await state.store.get_job(token.job_id)
    mine = {i for i, c in _apps(config) if c.app_id == cfg.app_id}
    if job is None or job.integration not in mine:
        return {"toast": {"type": "error", "content": words["invalid"]}}
    operator = _obj(event.get("operator"))
    by = _presser(config, str(operator.get("open_id", "")))
    notification = Notification.model_validate(job.payload)
    outcome = await act(
        state,
        group_key=job.group_key,
        action=ACK if token.action == ACKNOWLEDGE else SILENCE,
        by=by,
        via="feishu",
        seconds=float(token.seconds),
        notification=notification,
    )
    if not outcome.done:
        return {"toast": {"type": "error", "content": (outcome.detail or outcome.problem)[:200]}}
    shown = state.runtime.names.get(by, by)
    if outcome.until is not None:
        zone = ZoneInfo(config.global_.timezone)
        until = datetime.fromtimestamp(outcome.until, zone).strftime("%m-%d %H:%M")
        line = words["silenced"].format(by=shown, until=until)
    else:
        line = words["acked"].format(by=shown)
    answer: dict[str, Any] = {"toast": {"type": "success", "content": line}}
    card = _updated_card(state, job, notification, line)
    if card is not None:
        answer["card"] = {"type": "raw", "data": card}
    return answer


def _updated_card(
    state: RelayState, job: Any, notification: Notification, line: str
) -> dict[str, Any] | None:
    """The message's card again, its buttons replaced by ``line``."""
    notifier = state.runtime.notifiers.get(job.integration)
    if notifier is None:
        return None
    bodies = notifier.render_parts(Message(job.id, notification, job.integration))  # type: ignore[attr-defined]
    card = bodies[0].get("card") if bodies else None
    if not isinstance(card, dict):
        return None
    elements = [
        e
        for e in card.get("elements", [])
        if not (e.get("tag") == "action" and any("value" in b for b in e.get("actions", [])))
    ]
    card["elements"] = [*elements, {"tag": "div", "text": {"tag": "plain_text", "content": line}}]
    return card


def _presser(config: Config, open_id: str) -> str:
    for person in config.people:
        if person.ids.get("feishu") == open_id:
            return person.name
    return open_id[:100] or "feishu user"
