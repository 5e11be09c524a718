"""Slowing down guesses at the console's sign-in: after a few wrong secrets from one
client, each further try must wait, longer after each failure (up to a minute), so a
token cannot be guessed at the speed of the network. A right secret clears the client."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

#: Wrong tries a client may make at once, before any wait.
FREE_FAILURES = 5
#: Failures older than this are forgotten.
WINDOW = 300.0
#: The longest wait between two tries.
LONGEST_WAIT = 60.0
#: Clients remembered at most (the oldest are forgotten first), so a flood of addresses
#: cannot grow memory without bound.
MOST_CLIENTS = 10_000


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Per client: how many wrong tries lately, and when the last one was."""

    def __init__(self) -> None:
        self._clients: OrderedDict[str, _Failures] = OrderedDict()

    def wait(self, client: str, now: float) -> float:
        """Seconds before ``client`` may try again (0: now)."""
        failures = self._clients.get(client)
        if failures is None or now - failures.last > WINDOW:
            return 0.0
        if failures.count < FREE_FAILURES:
            return 0.0
        delay = min(2.0 ** (failures.count - FREE_FAILURES), LONGEST_WAIT)
        return max(0.0, failures.last + delay - now)

    def failed(self, client: str, now: float) -> None:
        failures = self._clients.pop(client, None)
        if failures is None or now - failures.last > WINDOW:
            failures = _Failures(0, now)
        failures.count += 1
        failures.last = now
        self._clients[client] = failures
        while len(self._clients) > MOST_CLIENTS:
            self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)
