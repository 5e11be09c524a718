"""Webhooks that were already applied and committed, and would change nothing now.

Most of what Alertmanager posts in steady state is a copy of the last webhook: its
re-sends every ``group_interval`` and, behind an HA pair, the second peer's copy. Applying
such a webhook again loads the group, finds every integration's notification log already
up to date, creates no job and writes nothing. This module remembers, per exact request
body, that this is so and until when, so that ingest can answer it without a trip to the
store. The answer is still only given for state that is committed: an entry is recorded
after the commit that stored it.

It is only used with a store that has a single writer (SQLite in one process). An entry
is valid while:

* the group keys it touched have seen no other transition since (a version per key,
  bumped inside every ingest transition, in commit order);
* the config is the one it was recorded under (a reload clears everything);
* no integration would repeat yet: ``now`` is before the earliest
  ``log entry time + repeat_interval`` of any integration with firing alerts;
* every update was a pass-through one (relay-side groups have timers of their own).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from relay.store.base import GroupState, GroupUpdate, Transition, TransitionResult

CAPACITY = 4096  # remembered webhooks; the oldest is forgotten first


@dataclass(frozen=True)
class QuietWebhook:
    """What applying the webhook again would do: nothing, counted like this."""

    versions: tuple[tuple[str, int], ...]  # (group key, its version at the commit)
    quiet_until: float
    generation: int  # the config it was recorded under
    alerts: int
    firing: int
    suppressed: tuple[str, ...]  # one receiver name per integration that would say "duplicate"


@dataclass
class Seen:
    version: int = 0


@dataclass
class QuietWebhooks:
    capacity: int = CAPACITY
    generation: int = 0
    # Group key -> the number of the last transition it saw. Numbers come from one
    # counter and never repeat, so forgetting every key (to bound memory) is safe: an
    # entry recorded before can never match again.
    _versions: dict[str, int] = field(default_factory=dict)
    _counter: int = 0
    _base: int = 0  # the version of every key not in _versions; renewed when they are forgotten
    _entries: dict[bytes, QuietWebhook] = field(default_factory=dict)

    @staticmethod
    def digest(body: bytes, receiver: str | None) -> bytes:
        return hashlib.blake2b(body, digest_size=20, person=(receiver or "").encode()[:16]).digest()

    def config_changed(self) -> None:
        """A reload: integrations, routes or repeat intervals may differ now."""
        self.generation += 1
        self._entries.clear()

    def track(self, update: GroupUpdate) -> tuple[GroupUpdate, Seen]:
        """``update`` with its transition bumping the key's version; the version it set
        is in the returned cell once the store has run it."""
        seen = Seen()
        inner: Transition = update.transition
        key = update.key

        def transition(state: GroupState | None) -> TransitionResult:
            result = inner(state)
            if not result.changed and not result.jobs:
                seen.version = self._version(key)
                return result  # the stored group is as it was: entries about it still hold
            if len(self._versions) >= self.capacity * 16:
                self._versions.clear()
                self._entries.clear()
                self._counter += 1
                self._base = self._counter
            self._counter += 1
            seen.version = self._versions[key] = self._counter
            return result

        return GroupUpdate(key, transition), seen

    def _version(self, key: str) -> int:
        return self._versions.get(key, self._base)

    def lookup(self, digest: bytes, now: float) -> QuietWebhook | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if (
            entry.generation != self.generation
            or now >= entry.quiet_until
            or any(self._version(key) != version for key, version in entry.versions)
        ):
            self._entries.pop(digest, None)
            return None
        return entry

    def remember(self, digest: bytes, entry: QuietWebhook) -> None:
        if entry.generation != self.generation or not entry.versions:
            return
        if any(self._version(key) != version for key, version in entry.versions):
            return  # another webhook changed one of its groups since
        self._entries.pop(digest, None)
        if len(self._entries) >= self.capacity:
            self._entries.pop(next(iter(self._entries), b""), None)
        self._entries[digest] = entry


def quiet_until(state: GroupState, repeat_interval: float) -> float:
    """When the first integration of this group would send a repeat notification."""
    due = [entry.at + repeat_interval for entry in state.log.values() if entry.firing]
    return min(due) if due else math.inf
