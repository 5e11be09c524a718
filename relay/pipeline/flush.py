"""The flush stage: groups whose timer fired (relay-side grouping, or a hold window that
ended) become notifications, committed in batches with the digest of what a hold window
released."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from relay.core.escalations import StepFired
from relay.core.groups import GroupUpdate, Suppressed, TransitionResult
from relay.core.schedules import Override
from relay.pipeline.grouping import flush_update
from relay.pipeline.hold import ReleasedHolds, digest_update
from relay.pipeline.runtime import Runtime
from relay.pipeline.timegate import TimeGate
from relay.store.roles import GroupStore

#: Groups looked at per flush; the rest wait for the next one.
DUE_GROUPS_PER_FLUSH = 1000
#: Groups per committed batch.
FLUSH_BATCH = 100

# A group's flush, given (as released=) the batch's collector of released hold entries.
Transitioned = Callable[..., GroupUpdate]
Apply = Callable[[list[GroupUpdate]], Awaitable[list[TransitionResult]]]


@dataclass
class Flushed:
    jobs: int = 0  # notifications created
    suppressed: list[Suppressed] = field(default_factory=list)
    escalated: list[StepFired] = field(default_factory=list)


async def flush_due(
    store: GroupStore,
    runtime: Runtime,
    now: float,
    apply: Apply,
    overrides: dict[str, tuple[Override, ...]] | None = None,
) -> Flushed:
    """Flush every group due at ``now``; ``apply`` commits the updates (the service's,
    which also tracks whether the store can commit). ``overrides``: the schedules'
    overrides made at run time, for whom escalation steps page."""
    keys = await store.due_groups(now, limit=DUE_GROUPS_PER_FLUSH)
    if not keys:
        return Flushed()
    resolve = runtime.on_call_at(now, overrides or {})
    releases: list[Transitioned] = []
    flushes: list[Transitioned] = []
    gates: dict[str, TimeGate] = {}
    for key in keys:
        group = await store.get_group(key)
        if group is None:
            continue
        route = runtime.route_for(group.route_id)
        gate = gates.setdefault(route.id, runtime.gate(route, now))
        integrations = runtime.integrations.get(group.receiver, [])
        # Every group a hold window's end releases goes in one batch, so that each
        # integration gets one digest for the window; the others in batches as small
        # as before, so that replicas on Redis seldom retry each other's.
        bucket = releases if group.held and gate.gate == "send" else flushes
        escalation = runtime.escalation_for(route, resolve)
        bucket.append(
            functools.partial(flush_update, key, route, integrations, now, gate, escalation=escalation)
        )
    batches = [flushes[i : i + FLUSH_BATCH] for i in range(0, len(flushes), FLUSH_BATCH)]
    results: list[TransitionResult] = []
    for batch in [releases, *batches] if releases else batches:
        # Each batch ends with the digest of what its transitions released (nothing,
        # unless a hold window ended), committed with them.
        released = ReleasedHolds()
        updates = [make(released=released) for make in batch]
        updates.append(digest_update(f"hold-digest|{now}", released, runtime.digest_builder, now))
        results += await apply(updates)
    return Flushed(
        jobs=sum(len(r.jobs) for r in results),
        suppressed=[skipped for r in results for skipped in r.suppressed],
        escalated=[step for r in results for step in r.escalated],
    )
