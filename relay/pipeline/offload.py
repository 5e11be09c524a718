"""CPU-heavy steps off the event loop: reading a webhook of 10,000 alerts, reading a
stored job back, rendering and splitting a big group.

They run in one worker thread, one at a time. Off the loop, so ingest, ``/-/healthy`` and
other deliveries keep going; and one thread only, because Python runs one thread at a
time: every extra thread busy with CPU work is one more waiting for the interpreter
before the event loop's next turn (six renders at once stalled the loop for 0.24 s, one
at a time keeps it under 0.1 s).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-cpu")


async def off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in the CPU worker thread, awaited."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_WORKER, functools.partial(fn, *args, **kwargs))
