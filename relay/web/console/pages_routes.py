"""The console's URLs: pages under /ui/, its static files, and / sending browsers there."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from relay.web.console import pages_actions, pages_views
from relay.web.console.pages import page
from relay.web.console.render import STATIC_DIR


async def to_console(request: Request) -> Response:
    return RedirectResponse("/ui/", 307)


def page_routes() -> list[BaseRoute]:
    """Routes for create_app: ``GET /`` and everything under ``/ui``."""
    return [
        Route("/", to_console, methods=["GET", "HEAD"]),
        Route("/ui", to_console, methods=["GET", "HEAD"]),
        Mount(
            "/ui",
            routes=[
                Route("/", page(pages_views.overview), methods=["GET", "HEAD"]),
                Route("/notifications", page(pages_views.notifications), methods=["GET", "HEAD"]),
                Route("/notifications/{id}", page(pages_views.notification), methods=["GET", "HEAD"]),
                Route("/notifications/{id}/retry", page(pages_actions.retry, action=True), methods=["POST"]),
                Route(
                    "/notifications/{id}/resend", page(pages_actions.resend, action=True), methods=["POST"]
                ),
                Route("/groups", page(pages_views.groups), methods=["GET", "HEAD"]),
                Route("/group", page(pages_views.group), methods=["GET", "HEAD"]),
                Route("/group/ack", page(pages_actions.group_ack, action=True), methods=["POST"]),
                Route("/oncall/override", page(pages_actions.oncall_override, action=True), methods=["POST"]),
                Route(
                    "/oncall/override/delete",
                    page(pages_actions.oncall_override_delete, action=True),
                    methods=["POST"],
                ),
                Route("/playground", page(pages_actions.playground), methods=["GET", "HEAD", "POST"]),
                Route("/playground/send", page(pages_actions.playground_send, action=True), methods=["POST"]),
                Route("/routes", page(pages_views.routes), methods=["GET", "HEAD"]),
                Route("/config", page(pages_views.config), methods=["GET", "HEAD"]),
                Route("/login", pages_actions.login, methods=["GET", "HEAD", "POST"]),
                Route("/logout", page(pages_actions.logout), methods=["POST"]),
                Mount("/static", StaticFiles(directory=STATIC_DIR), name="console-static"),
            ],
        ),
    ]
