"""Escalation until someone acknowledges, as part of a group's transitions.

:func:`escalate` runs inside the transition that decides a group (a webhook passed
through, or the group's timer) and moves its escalation on: it starts one when the
group fires unacknowledged and its notification is due, fires every step whose time
has come (each step's targets resolved at that moment: the person on call *now*),
and stops it when the group is acknowledged or resolved. Because it runs inside the
store's atomic transition, a step fires once across restarts and replicas: the replica
whose commit wins writes ``fired`` and the jobs together, the other retries against
that state and finds the step done.

A step's message is the group's current one (its firing alerts), marked with the step
and whom it pages, sent through the route's receiver or the step's own. The first
step, when it is due with the group's first notification and goes to the same
receiver, rides on that notification instead of sending a second message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.core.alerts import (
    Alert,
    Escalation,
    Notification,
    common_items,
    message_order,
    notification_payload,
)
from relay.core.escalations import (
    ACKNOWLEDGED,
    EXHAUSTED,
    REMOVED,
    RESOLVED,
    EscalationState,
    Policy,
    StepFired,
)
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import NewJob, new_job_id
from relay.core.timeline import record

#: A target ("schedule:sre", "person:lisi") -> the people it names at the moment asked.
OnCall = Callable[[str], tuple[str, ...]]

#: While the route is muted or inactive a due step waits; it is looked at again this often.
PAUSED_RECHECK = 60.0


@dataclass(frozen=True)
class EscalationContext:
    """What a transition needs to escalate a group: the route's policy (None: the route
    has none), who targets name now, how to name people, and each receiver's
    integrations (a step may use another receiver)."""

    policy: Policy | None
    on_call: OnCall
    names: Mapping[str, str] = field(default_factory=dict)
    integrations: Mapping[str, Sequence[Any]] = field(default_factory=dict)


def stop(state: GroupState, reason: str, now: float) -> None:
    """Stop the group's escalation (acknowledged, resolved, ...); nothing when it has none.
    An escalation that ran out of steps still takes the new reason: the policy starts
    again after an acknowledgement is lifted or the group fires again."""
    if state.escalation is None:
        return
    current = EscalationState.from_dict(state.escalation)
    if current.stopped == reason:
        return
    if current.running:
        record(state, "escalation_stopped", now, policy=current.policy, reason=reason, fired=current.fired)
    current.stopped, current.stopped_at, current.next_at = reason, now, None
    state.escalation = current.to_dict()


def escalate(
    state: GroupState,
    ctx: EscalationContext | None,
    jobs: list[NewJob],
    now: float,
    *,
    sending: bool,
) -> tuple[list[NewJob], list[StepFired]]:
    """Move the group's escalation on at ``now``; returns the step jobs to add and the
    steps fired. ``jobs``: the notifications this transition queued for the group (the
    first step rides on them); ``sending``: whether the route sends now (not muted,
    inactive or held): an escalation starts, and steps fire, only then."""
    firing = state.firing_count() > 0
    if not firing:
        stop(state, RESOLVED, now)
        return [], []
    if state.ack is not None:
        stop(state, ACKNOWLEDGED, now)
        return [], []
    policy = ctx.policy if ctx is not None else None
    current = EscalationState.from_dict(state.escalation) if state.escalation is not None else None
    if policy is None:
        if current is not None and current.running:
            stop(state, REMOVED, now)
        return [], []
    assert ctx is not None
    if current is None or current.stopped in (ACKNOWLEDGED, RESOLVED, REMOVED):
        if not sending:
            return [], []
        current = EscalationState(policy.name, started_at=now)
        record(state, "escalation_started", now, policy=policy.name)
        if state.incident is not None:
            state.incident["policy"] = policy.name
    if not current.running:
        return [], []  # exhausted: every step fired; waits for an ack or the group to resolve
    # A reload may have put another policy on the route, or changed this one: the next
    # step is the new policy's, counted from the same start.
    current.policy = policy.name
    new_jobs: list[NewJob] = []
    fired: list[StepFired] = []
    if not sending:
        due = current.started_at + policy.offset(current.fired)
        current.next_at = due if due > now else now + PAUSED_RECHECK
    else:
        while current.fired < policy.total and current.started_at + policy.offset(current.fired) <= now:
            step_jobs, step = _fire(state, policy, current.fired, ctx, jobs, now)
            new_jobs += step_jobs
            fired.append(step)
            current.fired += 1
            if state.incident is not None:
                state.incident["steps"] = int(state.incident.get("steps", 0)) + 1
        if current.fired >= policy.total:
            current.next_at, current.stopped, current.stopped_at = None, EXHAUSTED, now
        else:
            current.next_at = current.started_at + policy.offset(current.fired)
    state.escalation = current.to_dict()
    return new_jobs, fired


def _fire(
    state: GroupState, policy: Policy, index: int, ctx: EscalationContext, jobs: list[NewJob], now: float
) -> tuple[list[NewJob], StepFired]:
    round_, number, step = policy.step(index)
    # Built as JSON directly (what a job stores): a pydantic model per step costs more
    # than the rest of a webhook's transition.
    targets = [{"target": t, "people": list(ctx.on_call(t))} for t in step.targets]
    people = list(dict.fromkeys(p for t in targets for p in t["people"]))
    nobody = [str(t["target"]) for t in targets if not t["people"]]
    info: dict[str, Any] = {
        "policy": policy.name,
        "step": number + 1,
        "steps": len(policy.steps),
        "round": round_ + 1,
        "rounds": policy.repeat + 1,
        "targets": targets,
        "names": {p: ctx.names.get(p, p) for p in people},
    }
    receiver = step.receiver or state.receiver
    fired = StepFired(policy.name, number + 1, round_ + 1, tuple(people), tuple(nobody), state.key)
    record(
        state,
        "escalated",
        now,
        policy=policy.name,
        step=number + 1,
        round=round_ + 1,
        receiver=receiver,
        people=people,
        nobody=nobody or None,
    )
    # The first step rides on the notification queued now, if there is one to ride on.
    riding = [
        job
        for job in jobs
        if index == 0 and job.receiver == receiver and job.payload.get("status") == "firing"
    ]
    if riding:
        for job in riding:
            job.payload["escalation"] = info
        return [], fired
    alerts = [Alert.model_validate(a) for a in state.alerts.values() if a.get("status") == "firing"]
    alerts.sort(key=message_order)
    meta = state.meta
    notification = Notification(
        receiver=receiver,
        group_key=str(meta.get("group_key", state.key)),
        status="firing",
        alerts=alerts,
        group_labels=state.labels,
        common_labels=common_items([a.labels for a in alerts]),
        common_annotations=common_items([a.annotations for a in alerts]),
        external_url=str(meta.get("external_url", "")),
        truncated_alerts=int(meta.get("truncated_alerts", 0)),
        reason="escalation",
        escalation=Escalation.model_validate(info),
    )
    payload = notification_payload(notification)
    made = [
        NewJob(new_job_id(), receiver, integration.id, state.key, dict(payload), now)
        for integration in ctx.integrations.get(receiver, ())
    ]
    for job in made:
        record(state, "notified", now, integration=job.integration, reason="escalation", mentioned=people)
    return made, fired


def restep(key: str, now: float) -> GroupUpdate:
    """Make a running escalation's group due now, so that its next step is timed by the
    policy as it is now (after a reload changed it)."""

    def transition(state: GroupState | None) -> TransitionResult:
        if state is None or state.escalation is None or state.escalation.get("stopped") is not None:
            return TransitionResult(state, changed=False)
        state.next_flush_at = now
        return TransitionResult(state)

    return GroupUpdate(key, transition)
