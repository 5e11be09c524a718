"""respx for relay's delivery client.

relay sends through its own transport (relay.channels.http11), which respx's default
mocker (it patches httpcore) never reaches. This mocker patches httpcore as before *and*
relay's transport, and is made respx's default in conftest.py: a ``respx.mock`` answers
relay's deliveries, while a test's own client to relay's app (an ASGI transport) is left
alone, as before.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from respx.mocks import HTTPCoreMocker


class RelayTransportMocker(HTTPCoreMocker):
    name = "httpcore+relay"
    targets: ClassVar[list[str]] = [*HTTPCoreMocker.targets, "relay.channels.http11.Http11Transport"]

    @classmethod
    def to_httpx_request(cls, **kwargs: Any) -> Any:
        request = kwargs["request"]
        if isinstance(request, httpx.Request):  # relay's transport is given httpx's request
            return request
        return super().to_httpx_request(**kwargs)

    @classmethod
    async def prepare_async_request(cls, httpx_request: Any, **kwargs: Any) -> Any:
        if isinstance(kwargs["request"], httpx.Request):
            await httpx_request.aread()
            return httpx_request, kwargs
        return await super().prepare_async_request(httpx_request, **kwargs)

    @classmethod
    async def from_async_httpx_response(cls, httpx_response: Any, target: Any, **kwargs: Any) -> Any:
        if isinstance(kwargs["request"], httpx.Request):  # relay's transport returns httpx's
            # respx has read the mocked answer; the client reads it again from the stream.
            await httpx_response.aread()
            return httpx.Response(
                httpx_response.status_code,
                headers=httpx_response.headers.raw,
                stream=httpx.ByteStream(httpx_response.content),
                extensions=httpx_response.extensions,
            )
        return await super().from_async_httpx_response(httpx_response, target, **kwargs)
