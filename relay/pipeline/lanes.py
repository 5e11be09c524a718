"""Each integration's queue of claimed jobs, and the senders that drain it.

A destination with a rate limit (a chat robot, a phone vendor) has one sender: its limit
is far below one message per round trip, and what waits in its queue is what a storm
or a burst can still merge into a digest. A destination without one (a webhook, an SMTP
server, the log) has up to ``delivery.parallel_sends_per_integration`` senders, so a
storm of groups to a webhook 100 ms away is not paced at ten a second by its round trip.

Two jobs of one group are never sent at once, so a group's "resolved" cannot overtake
its "firing": a sender takes the first queued job whose group is not being sent, and the
sender of that group takes the next one of it when it is done.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from relay.core.jobs import Job

#: ``send(job)``: one attempt, recorded; it handles its own errors.
Send = Callable[[Job], Awaitable[None]]


class Lanes:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._queues: dict[str, deque[Job]] = {}
        self._senders: dict[str, set[asyncio.Task[None]]] = {}
        self._groups_sending: dict[str, set[str]] = {}

    def take_all(self, integration: str) -> list[Job]:
        """What the integration has queued, taken out in order (to be merged and put back)."""
        queue = self._queues.get(integration)
        if not queue:
            return []
        jobs = list(queue)
        queue.clear()
        return jobs

    def put(self, integration: str, jobs: list[Job], senders: int) -> None:
        """Queue ``jobs`` behind what waits, and start senders up to ``senders``."""
        queue = self._queues.setdefault(integration, deque())
        queue.extend(jobs)
        running = self._senders.setdefault(integration, set())
        running.difference_update([task for task in running if task.done()])
        for _ in range(min(senders - len(running), len(queue))):
            task = asyncio.create_task(self._drain(integration), name=f"relay-send-{integration}")
            running.add(task)

    def queued(self, integration: str) -> int:
        return len(self._queues.get(integration, ()))

    def senders(self) -> list[asyncio.Task[None]]:
        return [task for tasks in self._senders.values() for task in tasks if not task.done()]

    def _next(self, integration: str, sending: set[str]) -> Job | None:
        """The first queued job whose group is not being sent, taken out of the queue."""
        queue = self._queues[integration]
        for index, job in enumerate(queue):
            if job.group_key not in sending:
                del queue[index]
                return job
        return None

    async def _drain(self, integration: str) -> None:
        sending = self._groups_sending.setdefault(integration, set())
        while (job := self._next(integration, sending)) is not None:
            sending.add(job.group_key)
            try:
                await self._send(job)
            finally:
                sending.discard(job.group_key)
