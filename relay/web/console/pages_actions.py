"""The console's forms: Retry, Resend, the template playground (render, Send test), and
signing in and out."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from relay.channels import CHANNEL_TYPES
from relay.core.alerts import Notification
from relay.core.digests import DIGEST_KINDS
from relay.web.console import queries, queries_groups, queries_oncall
from relay.web.console.i18n import pick_language
from relay.web.console.pages import Refused, Visit, error_page, finish, see_other, set_session_cookie
from relay.web.console.session import (
    COOKIE,
    COOKIE_PATH,
    login_actor,
    new_session,
    signing_key,
)


async def retry(visit: Visit) -> Response:
    job_id = visit.request.path_params["id"]
    await queries.retry(visit.state, job_id, visit.actor)
    return see_other(f"/ui/notifications/{job_id}", done="retried")


async def resend(visit: Visit) -> Response:
    job_id = visit.request.path_params["id"]
    answer = await queries.resend(visit.state, job_id, visit.actor)
    return see_other(f"/ui/notifications/{job_id}", done="resent", job=str(answer["id"]))


async def group_ack(visit: Visit) -> Response:
    """The group page's Acknowledge / Unacknowledge button (``acknowledged`` is 1 or 0)."""
    form = await visit.form()
    key = str(form.get("key", ""))
    acknowledged = str(form.get("acknowledged", "1")) == "1"
    comment = str(form.get("comment", ""))[:500]
    await queries_groups.set_acknowledged(
        visit.state, key, {"comment": comment}, visit.actor, acknowledged=acknowledged, via="console"
    )
    return see_other("/ui/group", key=key, done="acked" if acknowledged else "unacked")


async def oncall_override(visit: Visit) -> Response:
    """The overview's "Swap a shift" form: an override of one schedule, from the wall
    times of its zone (``datetime-local`` fields)."""
    form = await visit.form()
    name = str(form.get("schedule", ""))
    body = {key: str(form.get(key, "")) for key in ("person", "start", "end", "comment")}
    await queries_oncall.add_override(visit.state, name, body, visit.actor)
    return see_other("/ui/", done="override")


async def oncall_override_delete(visit: Visit) -> Response:
    form = await visit.form()
    await queries_oncall.delete_override(visit.state, str(form.get("schedule", "")), str(form.get("id", "")))
    return see_other("/ui/", done="override_removed")


# -- template playground -------------------------------------------------------------

PLAYGROUND_DEFAULTS = {
    "target": "",
    "locale": "",
    "source": "sample",
    "webhook_id": "",
    "payload": "",
    "message": "notification",
    "groups": "5",
}
MESSAGES = ("notification", *DIGEST_KINDS)


async def playground(visit: Visit) -> Response:
    """The form; on POST also the rendered message (nothing is sent)."""
    form = dict(PLAYGROUND_DEFAULTS)
    if visit.request.method == "POST":
        form.update({k: v for k, v in (await visit.form()).items() if k in form})
        return await _playground_page(visit, form, send=False, render=True)
    job_id = visit.request.query_params.get("job")
    if job_id:  # "render it here": a stored notification's alerts, for its integration
        item = await queries.notification(visit.state, job_id)
        if item["digest"] is not None:
            raise Refused(400, "notification.digest_no_playground")
        v4 = Notification.model_validate(item["notification"]).to_v4()
        form.update(
            target=f"integration:{item['integration']}",
            source="paste",
            payload=json.dumps(v4, ensure_ascii=False, indent=2),
        )
        return await _playground_page(visit, form, send=False, render=True)
    return await _playground_page(visit, form, send=False, render=False)


async def playground_send(visit: Visit) -> Response:
    form = {
        **PLAYGROUND_DEFAULTS,
        **{k: v for k, v in (await visit.form()).items() if k in PLAYGROUND_DEFAULTS},
    }
    return await _playground_page(visit, form, send=True, render=True)


async def _playground_page(visit: Visit, form: dict[str, str], *, send: bool, render: bool) -> Response:
    config = visit.state.runtime.config
    integrations = [iid for r in config.receivers for iid, _ in r.integrations()]
    channels = sorted(cls.kind for cls in CHANNEL_TYPES.values())
    if not form["target"]:
        form["target"] = f"integration:{integrations[0]}" if integrations else f"channel:{channels[0]}"
    webhooks = (await queries_groups.webhooks(visit.state))["webhooks"]
    if form["source"] == "webhook" and not form["webhook_id"] and webhooks:
        form["webhook_id"] = str(webhooks[0]["id"])
    result: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None
    problem, details = "", []
    if render:
        try:
            body = playground_body(form)
            if send:
                if "integration" not in body:
                    raise queries.BadRequest(visit.t("playground.send_needs_integration"))
                if "digest" in body:
                    raise queries.BadRequest(visit.t("playground.send_needs_notification"))
                sent = await queries_groups.send_test(visit.state, body, visit.actor)
            result = await queries_groups.render(visit.state, body)
        except queries.BadRequest as exc:
            problem, details = exc.message, exc.details
    return visit.page(
        "playground.html.j2",
        section="playground",
        form=form,
        integrations=integrations,
        channels=channels,
        webhooks=webhooks,
        messages=MESSAGES,
        result=result,
        sent=sent,
        problem=problem,
        problem_details=details,
        status=400 if problem else 200,
    )


def playground_body(form: dict[str, str]) -> dict[str, Any]:
    """The POST /api/v1/render body for the playground's form fields."""
    kind, _, name = form["target"].partition(":")
    if kind not in ("integration", "channel") or not name:
        raise queries.BadRequest(
            f"target: expected integration:<id> or channel:<name>, got {form['target']!r}"
        )
    body: dict[str, Any] = {kind: name}
    if form["locale"]:
        body["locale"] = form["locale"]
    if form["message"] not in MESSAGES:
        raise queries.BadRequest(f"message: expected one of {', '.join(MESSAGES)}, got {form['message']!r}")
    if form["message"] != "notification":
        body["digest"] = form["message"]
        try:
            body["groups"] = int(form["groups"])
        except ValueError:
            raise queries.BadRequest(f"groups: expected a whole number, got {form['groups']!r}") from None
    if form["source"] == "webhook" and form["webhook_id"]:
        body["webhook_id"] = form["webhook_id"]
    elif form["source"] == "paste":
        try:
            body["payload"] = json.loads(form["payload"])
        except json.JSONDecodeError as exc:
            raise queries.BadRequest(f"payload:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    return body


# -- signing in and out --------------------------------------------------------------


def safe_next(target: str) -> str:
    """Where to go after signing in: a console page of this relay, never another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in target:
        return "/ui/"
    return target


async def login(request: Request) -> Response:
    state = request.app.state.relay
    config = state.runtime.config
    auth = config.server.auth
    if auth is None:  # nothing to sign in to
        return RedirectResponse("/ui/", 303)
    lang = pick_language(request.query_params, request.cookies, config.global_.locale)
    key = signing_key(auth)
    now = state.clock.now()
    anonymous = new_session("", now, signed_in=False)
    visit = Visit(request, state, lang, anonymous, key, new_cookie=False)
    form = {"next": request.query_params.get("next", "/ui/"), "username": ""}
    failed = False
    if request.method == "POST":
        try:
            form.update(await visit.form())
        except Refused as exc:
            return finish(visit, error_page(visit, exc.status, visit.t(exc.key)))
        client = request.client.host if request.client else ""
        wait = state.login_throttle.wait(client, now)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            page = error_page(visit, 429, visit.t("error.429_login", seconds=seconds))
            page.headers["Retry-After"] = str(seconds)
            return finish(visit, page)
        actor = login_actor(auth, form.get("username", ""), form.get("secret", ""))
        if actor is not None:
            state.login_throttle.succeeded(client)
            response = RedirectResponse(safe_next(form["next"]), 303)
            set_session_cookie(response, new_session(actor, now, signed_in=True), key, request)
            return response
        state.login_throttle.failed(client, now)
        failed = True
    page = visit.page(
        "login.html.j2",
        section="",
        status=401 if failed else 200,
        bare=True,
        bearer=auth.bearer_token is not None,
        failed=failed,
        next=safe_next(form["next"]),
        username=form.get("username", ""),
    )
    return finish(visit, page)


async def logout(visit: Visit) -> Response:
    visit.new_cookie = False  # signing out: no fresh session cookie on this answer
    response = RedirectResponse("/ui/login" if visit.state.runtime.config.server.auth else "/ui/", 303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
