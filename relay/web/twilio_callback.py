"""``POST /api/v1/twilio/voice/{job_id}/status`` and ``.../gather``: what Twilio tells
relay about a call it placed (relay.channels.twilio): how the call ended, and the key
the person pressed.

In this order, before anything else:
1. the body is bounded and read as a form;
2. ``X-Twilio-Signature`` is checked, as Twilio documents it: base64 of HMAC-SHA1,
   keyed with the auth token, of the URL Twilio called (``global.external_url`` and
   the path) followed by every form field's name and value, sorted by name; a config
   whose token matches and whose ``account_sid`` is the form's ``AccountSid`` is the
   sender;
3. the job must be a call of that config's integration;
4. a callback already seen (the same call, the same event) does nothing again: Twilio
   signs no timestamp, so the call's sid and the event are the replay key.

The status goes on the group's timeline (answered or not); a ``1`` pressed acknowledges
the group as the person whose ``phone`` was called, through the one action function.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from relay.channels.twilio import CALLBACK_PATH, TwilioConfig, say_attributes
from relay.core.errors import StoreUnavailable
from relay.core.secrets import mask_phone
from relay.core.text import normalize_locale
from relay.pipeline.calls import call_ended
from relay.web.group_actions import ACK, act

if TYPE_CHECKING:
    from relay.config import Config
    from relay.web.state import RelayState

logger = logging.getLogger("relay.twilio_callback")

STATUS_PATH = CALLBACK_PATH + "/{job_id}/status"
GATHER_PATH = CALLBACK_PATH + "/{job_id}/gather"
MAX_BODY = 16 * 1024
#: How long a callback is remembered against replays (Twilio retries for minutes).
SEEN_TTL = 2 * 86400.0
WORDS = {
    "en": ("Acknowledged. Thank you.", "Nothing was acknowledged. Goodbye."),
    "zh-CN": ("已确认，谢谢。", "未确认。再见。"),
}


def signature(auth_token: str, url: str, form: list[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` of a POST to ``url`` with ``form``."""
    text = url + "".join(k + v for k, v in sorted(form))
    return base64.b64encode(hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def _configs(config: Config) -> list[tuple[str, TwilioConfig]]:
    return [
        (integration, channel)
        for receiver in config.receivers
        for integration, channel in receiver.integrations()
        if isinstance(channel, TwilioConfig)
    ]


def _xml(text: str, attrs: str = "") -> Response:
    return Response(f"<Response><Say{attrs}>{escape(text)}</Say></Response>", media_type="text/xml")


async def _verified(request: Request, state: RelayState) -> tuple[dict[str, str], list[str]] | Response:
    """The form and the integrations whose token signed it, or the refusal."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return PlainTextResponse(f"body over {MAX_BODY} bytes", 413)
    try:
        form = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return PlainTextResponse("the body is not a form", 400)
    config = state.runtime.config
    base = config.global_.external_url.rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    given = request.headers.get("x-twilio-signature", "")
    fields = dict(form)
    senders = [
        integration
        for integration, cfg in _configs(config)
        if base
        and given
        and fields.get("AccountSid") == cfg.account_sid
        and hmac.compare_digest(given, signature(cfg.auth_token.get_secret_value(), url, form))
    ]
    if not senders:
        return PlainTextResponse("bad X-Twilio-Signature", 401)
    return fields, senders


async def _job(state: RelayState, job_id: str, senders: list[str]) -> Any:
    job = await state.store.get_job(job_id) if len(job_id) == 32 else None
    if job is None or job.integration not in senders:
        return None
    return job


async def status(request: Request, state: RelayState) -> Response:
    """How a call ended: on the group's timeline."""
    checked = await _verified(request, state)
    if isinstance(checked, Response):
        return checked
    fields, senders = checked
    try:
        job = await _job(state, request.path_params["job_id"], senders)
        if job is None:
            return PlainTextResponse("no such call", 404)
        call_status = fields.get("CallStatus", "")
        seen = f"twilio:{fields.get('CallSid', '')}:status:{call_status}"
        if not await state.store.add_ref(seen, {}, SEEN_TTL):
            return PlainTextResponse("")  # a replay: recorded already
        duration = fields.get("CallDuration", "")
        await state.apply(
            [
                call_ended(
                    job.group_key,
                    to=mask_phone(fields.get("To", "")),
                    status=call_status,
                    now=state.clock.now(),
                    via="twilio",
                    duration=int(duration) if duration.isdigit() else None,
                )
            ]
        )
    except StoreUnavailable:
        return PlainTextResponse("storage unavailable", 503)
    return PlainTextResponse("")


async def gather(request: Request, state: RelayState) -> Response:
    """The key pressed during a call: ``1`` acknowledges the group."""
    checked = await _verified(request, state)
    if isinstance(checked, Response):
        return checked
    fields, senders = checked
    config = state.runtime.config
    try:
        job = await _job(state, request.path_params["job_id"], senders)
        if job is None:
            return PlainTextResponse("no such call", 404)
        cfg = dict(_configs(config))[job.integration]
        locale = normalize_locale(cfg.locale or config.global_.locale)
        thanks, bye = WORDS[locale]
        attrs = say_attributes(cfg, locale)
        if fields.get("Digits") != "1":
            return _xml(bye, attrs)
        seen = f"twilio:{fields.get('CallSid', '')}:gather"
        if not await state.store.add_ref(seen, {}, SEEN_TTL):
            return _xml(thanks, attrs)  # a replay: acknowledged already
        number = fields.get("To", "")
        by = next((p.name for p in config.people if p.phone and p.phone == number), mask_phone(number))
        outcome = await act(state, group_key=job.group_key, action=ACK, by=by, via="phone")
    except StoreUnavailable:
        return PlainTextResponse("storage unavailable", 503)
    if not outcome.done:
        logger.warning("a key press acknowledged nothing: %s", outcome.problem)
        return _xml(bye, attrs)
    return _xml(thanks, attrs)
