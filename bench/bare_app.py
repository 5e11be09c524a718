"""The baseline: a bare Starlette endpoint that only parses the JSON body and answers 200."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def webhook(request: Request) -> JSONResponse:
    payload = json.loads(await request.body())
    return JSONResponse({"status": "accepted", "alerts": len(payload["alerts"])})


app = Starlette(routes=[Route("/api/v1/alerts/webhook", webhook, methods=["POST"])])
