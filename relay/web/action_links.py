"""``GET|POST /a/{token}``: the page an action link of a message opens (Acknowledge,
Silence 1h, ...), for a phone that cannot reach Alertmanager or relay's console.

The token (relay.core.actions) is the only credential: it is signed with relay's
action key, bound to one notification (so one group) and one action, and expires. GET
only shows what the link will do (the group, its alerts, whether someone acknowledged
it already) and a button: a link-preview robot fetching every URL of a chat changes
nothing. Only the POST acts, through the one action function (relay.web.group_actions);
a link acts once (remembered in the store across replicas), and opening it again shows
what was done. The page asks who you are (someone of ``people:`` or a name) and keeps
the answer in a cookie.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from relay.core.actions import ACKNOWLEDGE, ActionToken, BadToken, verify
from relay.core.alerts import Notification
from relay.core.durations import format_duration
from relay.core.errors import StoreUnavailable
from relay.web.console.i18n import LANG_COOKIE, LANGUAGES, translate
from relay.web.console.pages import static_url
from relay.web.console.render import environment, formatting
from relay.web.group_actions import ACK, SILENCE, act

if TYPE_CHECKING:
    from relay.web.state import RelayState

logger = logging.getLogger("relay.action_links")

PATH = "/a/{token}"
WHO_COOKIE = "relay_who"
#: The token is in the URL: no referrer leaves the page, nothing is cached or indexed.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
MAX_FORM = 4096


def _language(request: Request, default: str) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return str(chosen)
    accept = request.headers.get("accept-language", "").lower()
    if accept.startswith("zh"):
        return "zh-CN"
    return default if default in LANGUAGES else "en"


class Visit:
    def __init__(self, request: Request, state: RelayState) -> None:
        self.request, self.state = request, state
        config = state.runtime.config
        self.lang = _language(request, config.global_.locale)
        self.zone = ZoneInfo(config.global_.timezone)

    def t(self, key: str, **values: Any) -> str:
        return translate(self.lang, key, **values)

    def page(self, status: int, **context: Any) -> Response:
        config = self.state.runtime.config
        done = context.get("done")
        if done:  # who did it, as messages name them
            context["done"] = {**done, "by": self.state.runtime.names.get(done.get("by"), done.get("by"))}
        text = (
            environment()
            .get_template("action.html.j2")
            .render(
                t=self.t,
                lang=self.lang,
                static=static_url,
                fmt=formatting(self.lang, config.global_.timezone, self.state.clock.now()),
                people=[(p.name, p.shown) for p in config.people],
                who=self.request.cookies.get(WHO_COOKIE, "")[:100],
                **context,
            )
        )
        return HTMLResponse(text, status, headers=HEADERS)

    def local(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.zone).strftime("%Y-%m-%d %H:%M")


def _what(visit: Visit, token: ActionToken) -> str:
    if token.action == ACKNOWLEDGE:
        return visit.t("action.ack")
    return visit.t("action.silence", duration=format_duration(token.seconds))


async def _read(visit: Visit, text: str) -> tuple[ActionToken, Any, Notification] | Response:
    """The token, its job and the job's notification; or the page saying why not."""
    key = visit.state.action_key.value
    if key is None:
        return visit.page(503, problem=visit.t("action.not_ready"))
    try:
        token = verify(key, text, visit.state.clock.now())
    except BadToken as exc:
        reason = "action.expired" if "expired" in str(exc) else "action.bad_link"
        return visit.page(404 if reason == "action.bad_link" else 410, problem=visit.t(reason))
    job = await visit.state.store.get_job(token.job_id)
    if job is None:
        return visit.page(410, problem=visit.t("action.gone"))
    return token, job, Notification.model_validate(job.payload)


async def _link_page(
    visit: Visit,
    status: int,
    token: ActionToken,
    job: Any,
    notification: Notification,
    done: dict[str, Any] | None,
    problem: str = "",
) -> Response:
    """The page of one link: what it does, the group as it is now, and what was done."""
    group = await visit.state.store.get_group(job.group_key)
    return visit.page(
        status,
        what=_what(visit, token),
        notification=notification,
        group=_group_view(visit.state, group),
        done=done,
        action=token.action,
        problem=problem,
    )


async def show(request: Request, state: RelayState) -> Response:
    """GET: what the link will do, and a button. Changes nothing."""
    visit = Visit(request, state)
    try:
        found = await _read(visit, request.path_params["token"])
        if isinstance(found, Response):
            return found
        token, job, notification = found
        done = await state.store.get_ref(_used_key(request.path_params["token"]))
        return await _link_page(visit, 200, token, job, notification, done)
    except StoreUnavailable:
        return visit.page(503, problem=visit.t("action.store_down"))


async def perform(request: Request, state: RelayState) -> Response:
    """POST: act once, and show the outcome."""
    visit = Visit(request, state)
    text = request.path_params["token"]
    body = (await request.body())[:MAX_FORM]
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    who = " ".join((form.get("who_other") or form.get("who") or "").split())[:100]
    try:
        found = await _read(visit, text)
        if isinstance(found, Response):
            return found
        token, job, notification = found
        if not who:
            return await _link_page(visit, 400, token, job, notification, None, visit.t("action.who_needed"))
        now = state.clock.now()
        keep = max(60.0, token.expires - now)
        claim: dict[str, Any] = {"by": who, "at": now, "action": token.action}
        if not await state.store.add_ref(_used_key(text), claim, keep):
            done = await state.store.get_ref(_used_key(text))
            return await _link_page(visit, 200, token, job, notification, done)
        outcome = await act(
            state,
            group_key=job.group_key,
            action=ACK if token.action == ACKNOWLEDGE else SILENCE,
            by=who,
            via="link",
            seconds=float(token.seconds),
            notification=notification,
        )
        if not outcome.done:
            # Nothing was done: the link stays usable (Alertmanager may be back soon).
            await state.store.set_ref(_used_key(text), {}, 1.0)
            problem = visit.t(f"action.problem_{outcome.problem}", detail=outcome.detail[:300])
            status = 502 if outcome.problem == "not_accepted" else 409
            return await _link_page(visit, status, token, job, notification, None, problem)
        done = {**claim, "until": outcome.until}
        await state.store.set_ref(_used_key(text), done, keep)
        response = await _link_page(visit, 200, token, job, notification, done)
    except StoreUnavailable:
        return visit.page(503, problem=visit.t("action.store_down"))
    response.set_cookie(WHO_COOKIE, who, max_age=365 * 86400, httponly=True, samesite="lax", path="/a/")
    return response


def _used_key(token: str) -> str:
    return f"action-link:{token}"


def _group_view(state: RelayState, group: Any) -> dict[str, Any] | None:
    if group is None:
        return None
    ack = group.ack
    names = state.runtime.names
    return {
        "firing": group.firing_count(),
        "acknowledged_by": names.get(ack.get("by"), ack.get("by")) if ack else None,
        "acknowledged_at": ack.get("at") if ack else None,
    }
