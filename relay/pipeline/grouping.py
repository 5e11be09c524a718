"""Grouping and Alertmanager's notification-log dedup rule, as pure store transitions.

Two modes, per route:

* pass-through (no ``group_by``): Alertmanager already grouped the alerts; a webhook
  is the group's full current state and is decided on arrival.
* ``group_by``: relay groups alerts itself; a new group waits ``group_wait``, then
  flushes every ``group_interval`` while it holds alerts.

On each decision every integration of the receiver is checked against its own
notification-log entry, exactly as Alertmanager's DedupStage does, so an HA pair's
identical webhooks and Alertmanager's re-sends produce no second message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from relay.core.alerts import Alert, Notification, common_items, message_order, notification_payload
from relay.core.groups import Grouped, GroupState, GroupUpdate, LogEntry, Suppressed, TransitionResult
from relay.core.jobs import NewJob, new_job_id
from relay.core.timeline import note_firing_change, record
from relay.pipeline.escalation import EscalationContext, escalate
from relay.pipeline.hold import RECHECK, ReleasedHolds, hold, still_firing_jobs, take_held
from relay.pipeline.routing import Route
from relay.pipeline.timegate import SEND, TimeGate


@dataclass(frozen=True)
class IntegrationPolicy:
    """What dedup needs to know about one integration of a receiver."""

    id: str  # "<receiver>/<type>/<index>"
    send_resolved: bool


def needs_update(
    entry: LogEntry | None,
    firing: set[str],
    resolved: set[str],
    send_resolved: bool,
    repeat_interval: float,
    now: float,
) -> str | None:
    """Alertmanager's DedupStage.needsUpdate; returns why a notification is due, or None."""
    if entry is None:
        return "new_alerts" if firing else None
    if not firing <= set(entry.firing):
        return "new_alerts"
    if not firing:
        # Sent even without send_resolved, so the log forgets the firing alerts
        # (the message itself is then dropped for lack of alerts to show).
        return "all_resolved" if entry.firing else None
    if send_resolved and not resolved <= set(entry.resolved):
        return "resolved"
    if entry.at <= now - repeat_interval:
        return "repeat"
    return None


@dataclass
class GroupContext:
    """The group's presentation data carried into each notification."""

    group_key: str  # the key shown to users / sent downstream (Alertmanager-style)
    external_url: str
    truncated_alerts: int


def decide(
    state: GroupState,
    alerts: list[Alert],
    integrations: Iterable[IntegrationPolicy],
    repeat_interval: float,
    ctx: GroupContext,
    now: float,
) -> tuple[list[NewJob], list[Suppressed]]:
    """Run dedup for every integration, update ``state.log`` in place, return the jobs
    and, for each integration that sends nothing, why (with its log entry's time)."""
    firing = {a.fingerprint for a in alerts if a.status == "firing"}
    resolved = {a.fingerprint for a in alerts if a.status == "resolved"}
    if state.ack is not None and set(state.ack.get("firing", ())) != firing:
        state.ack = None  # the group changed (new alerts, or some resolved): ack is over
    jobs: list[NewJob] = []
    suppressed: list[Suppressed] = []
    for integration in integrations:
        entry = state.log.get(integration.id)
        reason = needs_update(
            entry,
            firing,
            resolved,
            integration.send_resolved,
            repeat_interval,
            now,
        )
        # When the last notification went out: the entry as it was before this decision.
        last_sent = entry.at if entry is not None else None
        if reason is None:
            suppressed.append(Suppressed(state.receiver, integration.id, "duplicate", last_sent))
            continue
        if reason == "repeat" and state.ack is not None:
            suppressed.append(Suppressed(state.receiver, integration.id, "acknowledged", last_sent))
            continue
        state.log[integration.id] = LogEntry(sorted(firing), sorted(resolved), now)
        to_send = alerts if integration.send_resolved else [a for a in alerts if a.status == "firing"]
        if not to_send:
            suppressed.append(Suppressed(state.receiver, integration.id, "resolved_not_sent", last_sent))
            continue
        notification = build_notification(state, to_send, ctx, reason)
        jobs.append(
            NewJob(
                id=new_job_id(),
                receiver=state.receiver,
                integration=integration.id,
                group_key=state.key,
                payload=notification_payload(notification),
                created_at=now,
            )
        )
    return jobs, suppressed


#: Held notifications wait for a mute (or an inactive time) to end: looked at this often.
MUTED_RECHECK = 60.0


def decide_gated(
    state: GroupState,
    alerts: list[Alert],
    integrations: list[IntegrationPolicy],
    repeat_interval: float,
    ctx: GroupContext,
    gate: TimeGate,
    now: float,
) -> tuple[list[NewJob], list[Suppressed]]:
    """:func:`decide` behind the route's time intervals. Inactive or muted: nothing is
    decided and the log stays as it is (Alertmanager's time stages come before dedup).
    Held: decided, and the jobs kept in the group's held entries."""
    if gate.gate in ("inactive", "muted"):
        return [], [
            Suppressed(state.receiver, i.id, gate.gate, state.log[i.id].at if i.id in state.log else None)
            for i in integrations
        ]
    # What each integration last sent, before decide() moves the log: only a hold needs
    # it, so the send path (every webhook) does not copy the log.
    held = gate.gate == "held"
    sent_before = {integration: entry.at for integration, entry in state.log.items()} if held else None
    jobs, suppressed = decide(state, alerts, integrations, repeat_interval, ctx, now)
    if held:
        suppressed += hold(state, jobs, alerts, gate.hold_until, now, sent_before)
        jobs = []
    return jobs, suppressed


def build_notification(
    state: GroupState, alerts: list[Alert], ctx: GroupContext, reason: str
) -> Notification:
    ordered = sorted(alerts, key=message_order)
    status = "firing" if any(a.status == "firing" for a in ordered) else "resolved"
    return Notification(
        receiver=state.receiver,
        group_key=ctx.group_key,
        status=status,
        alerts=ordered,
        group_labels=state.labels,
        common_labels=common_items([a.labels for a in ordered]),
        common_annotations=common_items([a.annotations for a in ordered]),
        external_url=ctx.external_url,
        truncated_alerts=ctx.truncated_alerts,
        reason=reason,
    )


def _fresh(
    state: GroupState | None, key: str, receiver: str, route: Route, labels: dict[str, str], now: float
) -> GroupState:
    # The store hands each transition a copy of its own, so it is updated in place.
    if state is None:
        return GroupState(
            key=key, receiver=receiver, route_id=route.id, labels=labels, created_at=now, updated_at=now
        )
    return state


def passthrough_update(
    key: str,
    receiver: str,
    route: Route,
    alerts: list[Alert],
    group_labels: dict[str, str],
    integrations: list[IntegrationPolicy],
    ctx: GroupContext,
    now: float,
    gate: TimeGate = SEND,
    escalation: EscalationContext | None = None,
) -> GroupUpdate:
    """A webhook's alerts for one receiver, decided on arrival (Alertmanager grouped them)."""

    def transition(state: GroupState | None) -> TransitionResult:
        was_firing = state is not None and state.firing_count() > 0
        new = _fresh(state, key, receiver, route, group_labels, now)
        current = {a.fingerprint: a.to_v4() for a in alerts}
        meta = {"group_key": ctx.group_key, "external_url": ctx.external_url}
        # An HA pair's second copy and Alertmanager's re-sends change nothing: saying so
        # lets the store skip the write, which is most of what ingest costs. The meta
        # (which Alertmanager sent it last) is kept but is no reason to write: the two
        # members of a pair differ in externalURL, and messages take it from the webhook.
        changed = state is None or (new.route_id, new.alerts) != (route.id, current)
        new.route_id, new.alerts, new.meta = route.id, current, meta
        before = (dict(new.log), new.ack, repr(new.held), new.held_until, repr(new.escalation))
        events = len(new.timeline)
        jobs, suppressed = decide_gated(new, alerts, integrations, route.repeat_interval, ctx, gate, now)
        note_firing_change(new, was_firing, now)
        steps, fired = escalate(new, escalation, jobs, now, sending=gate.gate == SEND.gate)
        note_notified(new, jobs, now)
        jobs += steps
        # A pass-through group's timers: a hold window's end and its escalation's next step.
        new.flush_at = None
        new.rearm()
        after = (new.log, new.ack, repr(new.held), new.held_until, repr(new.escalation))
        changed = changed or after != before or len(new.timeline) != events
        if changed:
            new.updated_at = now
        return TransitionResult(new, jobs, suppressed, changed=changed, escalated=fired)

    return GroupUpdate(key, transition, pure=True)


def merge_update(
    key: str,
    receiver: str,
    route: Route,
    alerts: list[Alert],
    group_labels: dict[str, str],
    ctx: GroupContext,
    now: float,
) -> GroupUpdate:
    """Add a webhook's alerts to a relay-side group; the flush timer decides later."""

    def transition(state: GroupState | None) -> TransitionResult:
        was_firing = state is not None and state.firing_count() > 0
        new = _fresh(state, key, receiver, route, group_labels, now)
        meta = {
            "group_key": ctx.group_key,
            "external_url": ctx.external_url,
            "truncated_alerts": ctx.truncated_alerts,
        }
        changed = state is None or new.flush_at is None or new.meta != meta
        for alert in alerts:
            v4 = alert.to_v4()
            if new.alerts.get(alert.fingerprint) != v4:
                new.alerts[alert.fingerprint] = v4
                changed = True
        if new.flush_at is None:
            new.flush_at = now + route.group_wait
        new.rearm()
        note_firing_change(new, was_firing, now)
        new.meta = meta
        if changed:
            new.updated_at = now
        waiting = Grouped(receiver, ctx.group_key, new.flush_at)
        return TransitionResult(new, changed=changed, grouped=[waiting])

    return GroupUpdate(key, transition)


def flush_update(
    key: str,
    route: Route,
    integrations: list[IntegrationPolicy],
    now: float,
    gate: TimeGate = SEND,
    released: ReleasedHolds | None = None,
    escalation: EscalationContext | None = None,
) -> GroupUpdate:
    """The group timer fired: decide, forget notified resolved alerts, re-arm the timer.

    The timer also ends a hold window: when the route's hold is no longer in force, the
    held entries go to ``released`` (for the digest) and the integrations that held
    something notify the group again while some of its alerts still fire. A
    pass-through group has a timer only for that, and for its escalation. When only the
    escalation's timer fired, the group is not decided again (its group_interval holds):
    only the due steps fire.
    """

    def transition(state: GroupState | None) -> TransitionResult:
        if released is not None:
            released.put(key, [])
        if state is None or state.next_flush_at is None or state.next_flush_at > now:
            return TransitionResult(state, changed=False)  # another replica flushed it first
        new = state
        was_firing = new.firing_count() > 0
        group_due = new.flush_at is not None and new.flush_at <= now
        hold_due = bool(new.held) and new.held_until is not None and new.held_until <= now
        decided = not route.passthrough and (group_due or hold_due)
        alerts = [Alert.model_validate(a) for a in new.alerts.values()]
        ctx = GroupContext(
            group_key=str(new.meta.get("group_key", new.key)),
            external_url=str(new.meta.get("external_url", "")),
            truncated_alerts=int(new.meta.get("truncated_alerts", 0)),
        )
        # Held entries wait while the route is muted or inactive, and go when it sends.
        entries = take_held(new) if new.held and gate.gate == "send" else []
        jobs: list[NewJob] = []
        suppressed: list[Suppressed] = []
        if decided:
            jobs, suppressed = decide_gated(new, alerts, integrations, route.repeat_interval, ctx, gate, now)
        elif new.held and route.passthrough:
            # The window goes on (the next one follows, or a reload), or waits.
            new.held_until = gate.hold_until if gate.gate == "held" else None
        if entries and gate.gate == "send":

            def make_job(integration: str, to_send: list[Alert]) -> NewJob:
                notification = build_notification(new, to_send, ctx, "hold_ended")
                return NewJob(
                    new_job_id(),
                    new.receiver,
                    integration,
                    new.key,
                    notification_payload(notification),
                    now,
                )

            jobs += still_firing_jobs(
                new,
                entries,
                alerts,
                {i.id: i.send_resolved for i in integrations},
                make_job,
                {job.integration for job in jobs},
                now,
            )
        if released is not None:
            released.put(key, entries)
        if route.passthrough:
            new.flush_at = None
        elif decided:
            new.alerts = {a.fingerprint: a.to_v4() for a in alerts if a.status == "firing"}
            new.flush_at = now + route.group_interval if new.alerts else None
        if new.held:
            if gate.gate != "held":
                new.held_until = now + MUTED_RECHECK  # muted or inactive: look again soon
            elif new.held_until is None or new.held_until <= now:
                new.held_until = gate.hold_until or now + RECHECK
        note_firing_change(new, was_firing, now)
        steps, fired = escalate(new, escalation, jobs, now, sending=gate.gate == SEND.gate)
        note_notified(new, jobs, now)
        jobs += steps
        new.rearm()
        new.updated_at = now
        return TransitionResult(new, jobs, suppressed, escalated=fired)

    return GroupUpdate(key, transition)


def note_notified(state: GroupState, jobs: list[NewJob], now: float) -> None:
    """Record each queued notification in the group's timeline, with whom it pages."""
    for job in jobs:
        if job.group_key != state.key:
            continue  # a hold window's digest
        escalation = job.payload.get("escalation") or {}
        mentioned = list(dict.fromkeys(p for t in escalation.get("targets", ()) for p in t.get("people", ())))
        record(
            state,
            "notified",
            now,
            integration=job.integration,
            reason=job.payload.get("reason"),
            mentioned=mentioned or None,
        )


def group_key_text(route: Route, labels: dict[str, str]) -> str:
    """An Alertmanager-style group key for relay-side groups: ``{route}:{a="b",...}``."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{{route={route.id}}}:{{{inner}}}"


def plan_webhook(
    alerts_by_route: dict[tuple[str, str], tuple[Route, list[Alert]]],
    integrations_of: dict[str, list[IntegrationPolicy]],
    upstream_group_key: str,
    upstream_group_labels: dict[str, str],
    external_url: str,
    truncated_alerts: int,
    now: float,
    gate_of: Callable[[Route], TimeGate] = lambda route: SEND,
    escalation_of: Callable[[Route], EscalationContext | None] = lambda route: None,
) -> list[GroupUpdate]:
    """Group updates for one webhook, given its alerts bucketed by (route id, receiver);
    ``gate_of`` says what each route's time intervals say now, ``escalation_of`` what
    escalating a group of the route needs."""
    updates: dict[str, GroupUpdate] = {}
    passthrough: dict[str, tuple[Route, str, dict[str, Alert]]] = {}
    grouped: dict[str, tuple[Route, str, dict[str, str], dict[str, Alert]]] = {}
    for (_, receiver), (route, alerts) in alerts_by_route.items():
        if route.passthrough:
            key = f"{receiver}|{upstream_group_key}"
            entry = passthrough.setdefault(key, (route, receiver, {}))
            entry[2].update({a.fingerprint: a for a in alerts})
            continue
        for alert in alerts:
            labels = route.group_labels(alert.labels)
            key = f"{receiver}|{route.id}|{group_key_text(route, labels)}"
            bucket = grouped.setdefault(key, (route, receiver, labels, {}))
            bucket[3][alert.fingerprint] = alert
    for key, (route, receiver, by_fp) in passthrough.items():
        ctx = GroupContext(upstream_group_key, external_url, truncated_alerts)
        updates[key] = passthrough_update(
            key,
            receiver,
            route,
            list(by_fp.values()),
            upstream_group_labels,
            integrations_of.get(receiver, []),
            ctx,
            now,
            gate_of(route),
            escalation_of(route),
        )
    for key, (route, receiver, labels, by_fp) in grouped.items():
        ctx = GroupContext(group_key_text(route, labels), external_url, truncated_alerts)
        updates[key] = merge_update(key, receiver, route, list(by_fp.values()), labels, ctx, now)
    return list(updates.values())
