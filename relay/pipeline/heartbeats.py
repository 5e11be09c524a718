"""Heartbeats: alerts that must keep arriving, and relay's own alert when they stop.

A firing alert that matches a heartbeat's matchers is a *beat*: ingest records when it
arrived (a store ref every replica reads) and, unless the heartbeat says ``forward``,
takes it out of the webhook. Every replica checks each heartbeat about once a second
(:func:`check_heartbeats`). When no beat has arrived for ``grace`` it raises
``HeartbeatMissing{heartbeat="<name>"}``; when beats come back it resolves it.

Raising and resolving are ordinary pass-through group updates with a fixed group key
(``<receiver>|heartbeat:<name>``), so templates, escalation, acknowledgement and the
timeline work as for any alert, and the notification log's dedup makes them happen once:
two replicas (or one replica's every check) committing the same firing alert send one
page, exactly as an Alertmanager HA pair's two webhooks do. Nothing is remembered
outside the store, so a restart or a kill -9 between two checks loses nothing.

A relay that was itself down cannot tell a silent pipeline from its own absence: no
replica raises the alert until it has run for ``grace`` (``started_at``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from relay.config.heartbeats import HeartbeatConfig
from relay.core.alerts import Alert
from relay.core.durations import format_duration
from relay.core.escalations import StepFired
from relay.core.groups import GroupState, GroupUpdate, Suppressed, TransitionResult
from relay.core.matchers import Matcher, parse_matcher
from relay.core.text import normalize_locale
from relay.pipeline.escalation import EscalationContext
from relay.pipeline.grouping import IntegrationPolicy, plan_webhook
from relay.pipeline.routing import Route
from relay.pipeline.timegate import TimeGate
from relay.store.roles import HeartbeatStore

logger = logging.getLogger("relay.heartbeats")

ALERTNAME = "HeartbeatMissing"
GROUP_KEY_PREFIX = "heartbeat:"
BEAT_REF = "relay:heartbeat:"  # + name: {"at": when the last beat arrived}
SINCE_REF = "relay:heartbeat-since:"  # + name: {"at": when relay first expected a beat}
#: Kept this long after the last write; a heartbeat silent for longer counts from ``since``.
REF_TTL = 400 * 86400.0
#: How often each replica checks its heartbeats (seconds).
CHECK_INTERVAL = 1.0
#: A beat within interval x LATE_AFTER is on time; later, until grace, it is late.
LATE_AFTER = 1.5
# A stored startsAt has microseconds: a beat is newer than the one the missing alert was
# reckoned from only if it is at least this much later.
_EPSILON = 0.001

HEALTHY, LATE, MISSING, WAITING = "healthy", "late", "missing", "waiting"


@dataclass(frozen=True)
class Heartbeat:
    """One configured heartbeat, with the route its missing-heartbeat group follows."""

    name: str
    matchers: tuple[Matcher, ...]
    interval: float
    grace: float
    receiver: str
    forward: bool
    labels: dict[str, str]
    route: Route

    @property
    def group_key(self) -> str:
        """The store key of the missing-heartbeat group (a pass-through group's key)."""
        return f"{self.receiver}|{GROUP_KEY_PREFIX}{self.name}"

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def build_heartbeats(configs: Sequence[HeartbeatConfig], root: Route) -> list[Heartbeat]:
    """The heartbeats of a config; each gets a route of its own (id ``heartbeat:<name>``):
    pass-through, so the page goes out when the check raises it, not a group_wait later."""
    out = []
    for config in configs:
        route = Route(
            id=f"{GROUP_KEY_PREFIX}{config.name}",
            receiver=config.receiver,
            group_by=(),
            group_by_all=False,
            group_wait=0.0,
            group_interval=root.group_interval,
            repeat_interval=config.repeat_interval or root.repeat_interval,
            matchers=(),
            continue_=False,
            routes=[],
            escalation=config.escalation,
        )
        out.append(
            Heartbeat(
                name=config.name,
                matchers=tuple(parse_matcher(m) for m in config.matchers),
                interval=config.interval,
                grace=config.grace,
                receiver=config.receiver,
                forward=config.forward,
                labels=dict(config.labels),
                route=route,
            )
        )
    return out


def take_beats(heartbeats: Sequence[Heartbeat], alerts: list[Alert]) -> tuple[list[str], list[Alert]]:
    """The heartbeats that ``alerts`` beat (firing alerts that match), and the alerts left
    to route: every alert that matches a heartbeat is consumed, firing or resolved,
    unless that heartbeat forwards. ``alerts`` itself is left as it is (it may be a
    parsed payload shared with other requests)."""
    if not heartbeats:
        return [], alerts
    beaten: list[str] = []
    kept: list[Alert] = []
    for alert in alerts:
        consumed = False
        for heartbeat in heartbeats:
            if not heartbeat.matches(alert.labels):
                continue
            if alert.status == "firing" and heartbeat.name not in beaten:
                beaten.append(heartbeat.name)
            consumed = consumed or not heartbeat.forward
        if not consumed:
            kept.append(alert)
    return beaten, kept


async def record_beats(store: HeartbeatStore, names: Sequence[str], now: float) -> None:
    """Remember that ``names`` beat at ``now``. Two replicas writing at once may leave
    the other's time, a few milliseconds apart: nothing next to a grace of minutes."""
    for name in names:
        await store.set_ref(BEAT_REF + name, {"at": now}, REF_TTL)


@dataclass(frozen=True)
class Reading:
    """What the store says of one heartbeat at one moment."""

    last_beat: float | None
    since: float
    raised_at: float | None  # the firing HeartbeatMissing alert's startsAt, if any

    @property
    def reference(self) -> float:
        """When a beat was last seen or, before the first, first expected."""
        return self.last_beat if self.last_beat is not None else self.since


def state_of(heartbeat: Heartbeat, reading: Reading, now: float) -> str:
    """healthy, late, missing or waiting (no beat yet, within grace of the first check)."""
    if reading.raised_at is not None:
        return MISSING
    quiet = now - reading.reference
    if quiet > heartbeat.grace:
        return MISSING
    if reading.last_beat is None:
        return WAITING
    return HEALTHY if quiet <= heartbeat.interval * LATE_AFTER else LATE


def view(heartbeat: Heartbeat, reading: Reading, now: float) -> dict[str, Any]:
    """A heartbeat as the API and the console show it."""
    return {
        "name": heartbeat.name,
        "receiver": heartbeat.receiver,
        "matchers": [str(m) for m in heartbeat.matchers],
        "interval": heartbeat.interval,
        "grace": heartbeat.grace,
        "forward": heartbeat.forward,
        "state": state_of(heartbeat, reading, now),
        "last_beat": reading.last_beat,
        "expected_since": reading.since,
        "missing_since": reading.raised_at,
        "group_key": heartbeat.group_key,
    }


def missing_alert(heartbeat: Heartbeat, reading: Reading, locale: str, external_url: str) -> Alert:
    """The alert relay raises: it started when the beat was ``grace`` overdue (once
    raised, when it was raised)."""
    starts = reading.raised_at if reading.raised_at is not None else reading.reference + heartbeat.grace
    return _alert(heartbeat, reading, "firing", starts, None, locale, external_url)


def recovered_alert(heartbeat: Heartbeat, reading: Reading, locale: str, external_url: str) -> Alert:
    """The raised alert, resolved at the latest beat this replica read."""
    assert reading.raised_at is not None and reading.last_beat is not None
    return _alert(heartbeat, reading, "resolved", reading.raised_at, reading.last_beat, locale, external_url)


def _alert(
    heartbeat: Heartbeat,
    reading: Reading,
    status: str,
    starts: float,
    ends: float | None,
    locale: str,
    external_url: str,
) -> Alert:
    matchers = ", ".join(str(m) for m in heartbeat.matchers)
    grace, interval = format_duration(heartbeat.grace), format_duration(heartbeat.interval)
    last = (
        datetime.fromtimestamp(reading.last_beat, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if reading.last_beat is not None
        else None
    )
    if normalize_locale(locale) == "zh-CN":
        summary = f"心跳 {heartbeat.name} 已中断：{grace} 内没有收到 {matchers}"
        description = (
            f"relay 每 {interval} 应收到一次匹配 {matchers} 的告警，"
            + (f"最后一次在 {last}。" if last else "启用后一次也没有收到。")
            + "Prometheus、Alertmanager 或它们到 relay 的链路可能已停止工作："
            + "在此期间，其他告警也可能发不出来。"
        )
    else:
        summary = f"No heartbeat from {heartbeat.name} for {grace}: no alert matching {matchers}"
        description = (
            f"relay expects an alert matching {matchers} every {interval}; "
            + (f"the last arrived at {last}. " if last else "none has arrived since it was configured. ")
            + "Prometheus, Alertmanager or the path from them to relay may be down:"
            " other alerts may not be getting through either."
        )
    labels = {**heartbeat.labels, "alertname": ALERTNAME, "heartbeat": heartbeat.name}
    data: dict[str, Any] = {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary, "description": description},
        "startsAt": datetime.fromtimestamp(starts, UTC),
        "endsAt": datetime.fromtimestamp(ends, UTC) if ends is not None else None,
        "generatorURL": f"{external_url.rstrip('/')}/ui/" if external_url else "",
    }
    return Alert.model_validate(data)


def raised_at(group: GroupState | None) -> float | None:
    """The startsAt of the group's firing HeartbeatMissing alert; None when none fires."""
    if group is None:
        return None
    for alert in group.alerts.values():
        if alert.get("status") == "firing" and alert.get("labels", {}).get("alertname") == ALERTNAME:
            return datetime.fromisoformat(str(alert["startsAt"]).replace("Z", "+00:00")).timestamp()
    return None


async def read(store: HeartbeatStore, heartbeat: Heartbeat, now: float, since: dict[str, float]) -> Reading:
    """The heartbeat's last beat, when relay first expected one (written once, shared by
    replicas; ``since`` caches it) and whether its alert is raised."""
    beat = await store.get_ref(BEAT_REF + heartbeat.name)
    first = since.get(heartbeat.name)
    if first is None:
        await store.add_ref(SINCE_REF + heartbeat.name, {"at": now}, REF_TTL)
        found = await store.get_ref(SINCE_REF + heartbeat.name)
        first = float(found["at"]) if found is not None else now
        since[heartbeat.name] = first
    group = await store.get_group(heartbeat.group_key)
    return Reading(float(beat["at"]) if beat is not None else None, first, raised_at(group))


@dataclass
class Checked:
    """What one check did: the jobs, suppressions and escalation steps its commits made
    (the fields of relay.pipeline.flush.Flushed), and what it read of each heartbeat."""

    jobs: int = 0
    suppressed: list[Suppressed] = field(default_factory=list)
    escalated: list[StepFired] = field(default_factory=list)
    readings: dict[str, Reading] = field(default_factory=dict)


Apply = Callable[[list[GroupUpdate]], Awaitable[list[TransitionResult]]]


@dataclass(frozen=True)
class CheckContext:
    """What a check needs of the running config."""

    heartbeats: Sequence[Heartbeat]
    integrations: dict[str, list[IntegrationPolicy]]
    locale: str
    external_url: str
    gate_of: Callable[[Route], TimeGate]
    escalation_of: Callable[[Route], EscalationContext | None]


def decide(heartbeat: Heartbeat, reading: Reading, now: float, started_at: float) -> str | None:
    """ "raise", "resolve", "firing" (raised and still missing) or None.

    A replica raises only once it has itself run for ``grace`` (before that it cannot
    tell a silent pipeline from its own absence). A raised alert is committed again at
    every check while it stays missing: no Alertmanager re-sends it, and the group's
    repeat_interval is decided when its alerts arrive (the notification log makes the
    re-commit a no-op until a repeat is due).
    """
    if reading.raised_at is None:
        overdue = now - reading.reference > heartbeat.grace
        return "raise" if overdue and now - started_at > heartbeat.grace else None
    back = (
        reading.last_beat is not None
        and reading.last_beat > reading.raised_at - heartbeat.grace + _EPSILON
        and now - reading.last_beat <= heartbeat.grace
    )
    return "resolve" if back else "firing"


async def check_heartbeats(
    store: HeartbeatStore,
    ctx: CheckContext,
    now: float,
    started_at: float,
    apply: Apply,
    since: dict[str, float],
) -> Checked:
    """Raise the alert of each heartbeat that went missing, resolve it for each that
    came back; ``apply`` commits (the service's)."""
    checked = Checked()
    for heartbeat in ctx.heartbeats:
        reading = await read(store, heartbeat, now, since)
        checked.readings[heartbeat.name] = reading
        action = decide(heartbeat, reading, now, started_at)
        if action is None:
            continue
        if action == "resolve":
            alert = recovered_alert(heartbeat, reading, ctx.locale, ctx.external_url)
            logger.info("heartbeat %s beats again: its alert is resolved", heartbeat.name)
        else:
            alert = missing_alert(heartbeat, reading, ctx.locale, ctx.external_url)
            if action == "raise":
                logger.warning("heartbeat %s missing: its alert is raised", heartbeat.name)
        route = heartbeat.route
        updates = plan_webhook(
            {(route.id, heartbeat.receiver): (route, [alert])},
            ctx.integrations,
            f"{GROUP_KEY_PREFIX}{heartbeat.name}",
            {"alertname": ALERTNAME, "heartbeat": heartbeat.name},
            ctx.external_url,
            0,
            now,
            ctx.gate_of,
            ctx.escalation_of,
        )
        for result in await apply(updates):
            checked.jobs += len(result.jobs)
            checked.suppressed += result.suppressed
            checked.escalated += result.escalated
    return checked
