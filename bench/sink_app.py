"""A webhook destination for the delivery benchmark: counts what it receives.

POST /hook answers 200 and counts; GET /count says how many so far. It runs as its own
uvicorn process, so the process under test never shares an interpreter with it.
``SINK_DELAY_MS`` makes it answer that late: a destination across a network.
"""

from __future__ import annotations

import asyncio
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

received = 0
DELAY = float(os.environ.get("SINK_DELAY_MS", "0")) / 1000


async def hook(request: Request) -> Response:
    global received
    await request.body()
    received += 1
    if DELAY:
        await asyncio.sleep(DELAY)
    return Response(status_code=200)


async def count(request: Request) -> Response:
    return PlainTextResponse(str(received))


app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/count", count, methods=["GET"])])
