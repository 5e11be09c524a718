"""The console's HTML pages at /ui/: who may see them, and how a page is answered.

Every page is rendered on the server from the same functions the JSON API answers with
(:mod:`relay.web.console.queries`), so the page and ``/api/v1/...`` cannot disagree. A page
works without JavaScript; htmx only refreshes parts of it in place.

Admission (see :mod:`relay.web.console.session` for the cookie): without ``server.auth`` the
console is open and the actor is ``anonymous``; with it, a request needs a valid
``Authorization`` header (as an API client sends) or the session cookie of the login
form, else a page is answered with a redirect to the login form. Every POST needs the
session's CSRF token; Retry, Resend and Send test are refused with 403 when
``server.ui.read_only`` is true.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relay import __version__
from relay.core.errors import StoreUnavailable
from relay.core.text import ascii_int
from relay.web.console import queries
from relay.web.console.api import scrub
from relay.web.console.i18n import LANG_COOKIE, LANGUAGES, MESSAGES, pick_language, translate
from relay.web.console.render import environment, formatting
from relay.web.console.session import (
    COOKIE,
    COOKIE_PATH,
    SESSION_SECONDS,
    Session,
    csrf_ok,
    csrf_token,
    decode,
    encode,
    header_actor,
    new_session,
    signing_key,
)

if TYPE_CHECKING:
    from relay.web.state import RelayState

#: (key, path) of each section, in the order of the navigation bar.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("overview", "/ui/"),
    ("notifications", "/ui/notifications"),
    ("groups", "/ui/groups"),
    ("playground", "/ui/playground"),
    ("routes", "/ui/routes"),
    ("config", "/ui/config"),
)


class Refused(Exception):
    """A console request answered with an error page (status, message key, values)."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


@dataclass
class Visit:
    """One request to a console page: the service, the language, the session."""

    request: Request
    state: RelayState
    lang: str
    session: Session
    key: bytes
    new_cookie: bool  # the session was made for this request: answer its cookie

    @property
    def actor(self) -> str:
        return self.session.actor

    @property
    def read_only(self) -> bool:
        return bool(self.state.runtime.config.server.ui.read_only)

    def t(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)

    def page(self, template: str, *, section: str, status: int = 200, **context: Any) -> Response:
        """The HTML answer of ``template`` inside the console's frame.

        Every value handed in is scrubbed of the configured secrets first, as the JSON
        API's answers are (a second line of defence: the store keeps messages redacted).
        """
        config = self.state.runtime.config
        context = {name: scrub(value, self.state.runtime.secrets) for name, value in context.items()}
        fmt = formatting(self.lang, config.global_.timezone, self.state.clock.now())
        html = (
            environment()
            .get_template(template)
            .render(
                t=self.t,
                lang=self.lang,
                languages=LANGUAGES,
                lang_url=self.lang_url,
                sections=SECTIONS,
                section=section,
                version=__version__,
                csrf=csrf_token(self.session, self.key),
                session=self.session,
                read_only=self.read_only,
                timezone=config.global_.timezone,
                fmt=fmt,
                static=static_url,
                known_keys=MESSAGES.keys(),
                **context,
            )
        )
        return HTMLResponse(html, status)

    def lang_url(self, lang: str) -> str:
        """This page in another language (its other query parameters kept)."""
        params = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        return f"{self.request.url.path}?{urlencode([*params, ('lang', lang)])}"

    async def form(self) -> dict[str, str]:
        """The posted form's fields (last value of each).

        The console's forms are urlencoded (no file uploads), so the standard library
        reads them; a larger body than ``server.max_body_bytes`` is refused.
        """
        kind = self.request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise Refused(415, "error.form_type")
        limit = self.state.runtime.config.server.max_body_bytes
        declared = ascii_int(self.request.headers.get("content-length"), most_digits=30)
        if declared is not None and declared > limit:
            raise Refused(413, "error.form_size")
        body = await self.request.body()  # Starlette keeps it: a second call is free
        if len(body) > limit:
            raise Refused(413, "error.form_size")
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def static_url(name: str) -> str:
    # The version busts browser caches across upgrades; the files never change within one.
    return f"/ui/static/{quote(name)}?v={quote(__version__)}"


Page = Callable[[Visit], Awaitable[Response]]


def page(handler: Page, *, action: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint around ``handler``: admission, CSRF, read-only, error pages.

    ``action``: the handler changes something outside the page (retry, resend, send a
    test): refused with 403 on a read-only console.
    """

    async def endpoint(request: Request) -> Response:
        state: RelayState = request.app.state.relay
        config = state.runtime.config
        lang = pick_language(request.query_params, request.cookies, config.global_.locale)
        key = signing_key(config.server.auth)
        admitted = admit(request, state, key)
        if isinstance(admitted, Response):
            return admitted
        session, fresh = admitted
        visit = Visit(request, state, lang, session, key, fresh)
        request.state.actor = session.actor
        request.scope["relay.actor"] = session.actor
        try:
            if request.method == "POST":
                fields = await visit.form()
                if not csrf_ok(session, key, fields.get("csrf")):
                    raise Refused(403, "error.403_csrf")
                if action and visit.read_only:
                    raise Refused(403, "error.403_read_only")
            response = await handler(visit)
        except Refused as exc:
            response = error_page(visit, exc.status, visit.t(exc.key, **exc.values))
        except queries.ReadOnly:
            response = error_page(visit, 403, visit.t("error.403_read_only"))
        except queries.ConsoleError as exc:  # not found, conflict, bad request
            response = error_page(visit, exc.status, exc.message, exc.details)
        except StoreUnavailable as exc:
            response = error_page(visit, 503, visit.t("error.503", detail=str(exc)))
            response.headers["Retry-After"] = "5"
        return finish(visit, response)

    return endpoint


def admit(request: Request, state: RelayState, key: bytes) -> tuple[Session, bool] | Response:
    """(the session, whether it is new) or the answer for a visitor who must sign in."""
    auth = state.runtime.config.server.auth
    now = state.clock.now()
    session = decode(request.cookies.get(COOKIE), key, now)
    if auth is None:
        if session is not None:
            return session, False
        return new_session("anonymous", now, signed_in=False), True
    by_header = header_actor(auth, request.headers.get("authorization"))
    if by_header is not None:
        if session is not None and session.signed_in and session.actor == by_header:
            return session, False
        return new_session(by_header, now, signed_in=True), True
    if session is not None and session.signed_in:
        return session, False
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = f"/ui/login?{urlencode({'next': target})}"
    if request.headers.get("hx-request"):
        # htmx (the overview's poll) would swap the login form into the page; it follows
        # HX-Redirect with a full navigation instead.
        return HTMLResponse("sign in first", 401, headers={"HX-Redirect": login})
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(login, 303)
    return HTMLResponse(f'sign in first: <a href="{login}">/ui/login</a>', 401)


def finish(visit: Visit, response: Response) -> Response:
    """Cookies for a new session and a language picked with ?lang=; no caching of pages."""
    if visit.new_cookie:
        set_session_cookie(response, visit.session, visit.key, visit.request)
    if visit.request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, visit.lang, max_age=365 * 86400, path=COOKIE_PATH, httponly=True, samesite="strict"
        )
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def set_session_cookie(response: Response, session: Session, key: bytes, request: Request) -> None:
    response.set_cookie(
        COOKIE,
        encode(session, key),
        max_age=int(SESSION_SECONDS),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        # Secure when the browser came over HTTPS: relay often serves plain HTTP on a
        # private network, where a Secure cookie would never come back.
        secure=request.url.scheme == "https",
    )


def error_page(visit: Visit, status: int, message: str, details: list[str] | None = None) -> Response:
    return visit.page(
        "error.html.j2", section="", status=status, message=message, details=details or [], code=status
    )


def see_other(path: str, **params: str) -> RedirectResponse:
    """Post/redirect/get: a form's answer sends the browser to a page it may reload."""
    query = f"?{urlencode(params)}" if params else ""
    return RedirectResponse(f"{path}{query}", 303)
