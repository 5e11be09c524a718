"""Notifiers that stand in for a destination in dispatcher tests: one that never answers
until released, one that answers at once; and a two-receiver config to put them under."""

from __future__ import annotations

import asyncio
from typing import Any

from relay.channels.base import Delivery, Message, Notifier, Preview


class Preless(Notifier):
    def preview(self, message: Message) -> Preview:
        raise AssertionError("not previewed in these tests")

    def digest_bodies(self, digest: Any) -> list[Any]:
        raise AssertionError("no digests in these tests")

    async def send_digest(self, message: Any) -> Delivery:
        raise AssertionError("no digests in these tests")


class Hanging(Preless):
    """A destination that accepts and never answers: every send waits until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def send(self, message: Message) -> Delivery:
        self.started.append(message.job_id)
        await self.release.wait()
        return Delivery()


class Fast(Preless):
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: Message) -> Delivery:
        self.sent.append(message.job_id)
        return Delivery()


def two_receivers(url: str, delivery: str) -> str:
    return f"""
delivery: {{{delivery}}}
route:
  receiver: stuck
receivers:
  - name: stuck
    webhook_configs: [{{url: {url}/stuck}}]
  - name: fast
    webhook_configs: [{{url: {url}/fast}}]
"""


async def settle() -> None:
    """Let the integration workers run until each is idle or waiting on its destination
    (a delivery reads and renders its job in a worker thread first: real time passes)."""
    for _ in range(10):
        for _ in range(20):
            await asyncio.sleep(0)
        await asyncio.sleep(0.02)
