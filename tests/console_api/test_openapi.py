"""The OpenAPI document describes every /api/v1 route the app registers."""

from __future__ import annotations

import re

from starlette.routing import Route

from relay.web.console.openapi import openapi_document
from relay.web.service import create_app
from tests.conftest import make_config

CONFIG = """
route: {receiver: default}
receivers: [{name: default, log_configs: [{}]}]
storage: {url: "sqlite:///./unused.db"}
"""


def test_every_api_route_and_method_is_in_the_document() -> None:
    app = create_app(make_config(CONFIG), background=False)
    paths = openapi_document()["paths"]
    registered = 0
    for route in app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/v1"):
            continue
        registered += 1
        path = re.sub(r"\{(\w+):path\}", r"{\1}", route.path)
        assert path in paths, path
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in paths[path], (method, path)
    assert registered >= 17
    assert openapi_document()["openapi"] == "3.1.0"
