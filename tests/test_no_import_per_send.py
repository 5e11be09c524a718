"""Sending a notification imports nothing once relay is warm.

The class of defect: a library that tries an optional import on every request (httpcore
asks for ``sniffio`` each time it sends; with the package missing, the failed import
searched sys.path for every notification: 0.2 ms of CPU each, a quarter of a bare
client's cost). A module that is found is imported once and cached; one that is missing
is looked for again every time, which a finder on ``sys.meta_path`` sees.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook


class Looked(MetaPathFinder):
    """Records every module name Python looks for; finds nothing itself."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.names.append(fullname)
        return None


async def send(relay: Any, first: int, count: int) -> None:
    for index in range(first, first + count):
        payload = webhook(alert(instance=f"node-{index}"), group_key=f'{{}}:{{instance="node-{index}"}}')
        assert (await relay.post(payload)).status_code == 200
    await relay.deliver_all()


async def test_a_warm_relay_sends_without_importing(relay_factory: Any) -> None:
    with Sink() as sink:
        config = f"""
route: {{receiver: hook}}
receivers:
  - name: hook
    webhook_configs: [{{url: "http://127.0.0.1:{sink.port}/hook"}}]
"""
        async with relay_factory(config) as relay:
            await send(relay, 0, 3)  # first sends import what they need, once
            looked = Looked()
            sys.meta_path.insert(0, looked)
            try:
                await send(relay, 3, 10)
            finally:
                sys.meta_path.remove(looked)
            assert len(sink.received) == 13
            assert looked.names == [], sorted(set(looked.names))
