"""hold_time_intervals: notifications decided in the window are kept, not sent.

While a route's hold interval is in force, each notification dedup decides is folded
into the group's :class:`HeldEntry` for that integration (kept in the group's state, so
in the store, so across restarts and replicas) and the notification log moves on as if
it had been sent. The group's timer is set to the window's end; at that flush
(relay.pipeline.grouping.flush_update) the entries are taken out (:func:`take_held`) for the
integration's digest (:func:`digest_update`, last in the same store batch), and each
group that still has firing alerts is notified again, normally, through the
integration (:func:`still_firing_jobs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.core.alerts import Alert
from relay.core.digests import Digest, HeldLike, WindowLike, digest_payload
from relay.core.groups import GroupState, GroupUpdate, LogEntry, Suppressed, TransitionResult
from relay.core.jobs import NewJob, new_job_id

#: A hold window that does not end within the search horizon is looked at again this often.
RECHECK = 86400.0


@dataclass
class HeldEntry:
    """What one group held for one integration during a hold window."""

    receiver: str
    integration: str  # "<receiver>/<type>/<index>"
    group_key: str  # the group's store key
    display_group_key: str  # the key shown in messages (Alertmanager's, or relay's own)
    group_labels: dict[str, str]
    external_url: str
    first_held_at: float  # when the first notification was held
    last_held_at: float
    notifications: int  # how many notifications were held
    # When the integration last sent for the group before the window (None: never). The
    # group's notification log moves at each held decision, so it cannot tell this.
    last_sent: float | None = None
    # fingerprint -> the alert (v4 JSON) as last seen in the window: an alert that fired
    # and resolved within it is here as resolved.
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts.values() if a.get("status") == "firing"]

    def resolved(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts.values() if a.get("status") == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "integration": self.integration,
            "group_key": self.group_key,
            "display_group_key": self.display_group_key,
            "group_labels": self.group_labels,
            "external_url": self.external_url,
            "first_held_at": self.first_held_at,
            "last_held_at": self.last_held_at,
            "notifications": self.notifications,
            "alerts": self.alerts,
            "last_sent": self.last_sent,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeldEntry:
        return cls(
            receiver=data["receiver"],
            integration=data["integration"],
            group_key=data["group_key"],
            display_group_key=data["display_group_key"],
            group_labels=dict(data["group_labels"]),
            external_url=data["external_url"],
            first_held_at=float(data["first_held_at"]),
            last_held_at=float(data["last_held_at"]),
            notifications=int(data["notifications"]),
            alerts=dict(data["alerts"]),
            last_sent=data.get("last_sent"),
        )


@dataclass(frozen=True)
class HoldWindow:
    """The hold window a digest reports on."""

    started_at: float  # the first notification held (across the digest's entries)
    ended_at: float  # when relay released it


def hold(
    state: GroupState,
    jobs: list[NewJob],
    alerts: Sequence[Alert],
    hold_until: float | None,
    now: float,
    sent_before: dict[str, float] | None = None,
) -> list[Suppressed]:
    """Fold the jobs a decision made into the group's held entries instead of sending
    them; every entry of the group also learns the current state of its alerts.
    ``sent_before``: integration -> its log entry's time before this decision (what it
    last sent, unless that was held too: a held entry keeps the first one it saw)."""
    current = {a.fingerprint: a.to_v4() for a in alerts}
    suppressed = []
    for job in jobs:
        raw = state.held.get(job.integration)
        entry = (
            HeldEntry.from_dict(raw)
            if raw is not None
            else HeldEntry(
                receiver=job.receiver,
                integration=job.integration,
                group_key=state.key,
                display_group_key=str(job.payload.get("group_key", state.key)),
                group_labels=dict(state.labels),
                external_url=str(job.payload.get("external_url", "")),
                first_held_at=now,
                last_held_at=now,
                notifications=0,
                last_sent=(sent_before or {}).get(job.integration),
            )
        )
        entry.last_held_at = now
        entry.notifications += 1
        entry.alerts.update({str(a["fingerprint"]): a for a in job.payload.get("alerts", [])})
        state.held[job.integration] = entry.to_dict()
        suppressed.append(
            Suppressed(job.receiver, job.integration, "held", entry.last_sent, until=hold_until)
        )
    for raw in state.held.values():
        known = raw["alerts"]
        known.update({fp: alert for fp, alert in current.items() if fp in known})
    if state.held:
        state.held_until = hold_until if hold_until is not None else now + RECHECK
    return suppressed


def take_held(state: GroupState) -> list[HeldEntry]:
    """The group's held entries, removed from it."""
    entries = [HeldEntry.from_dict(raw) for raw in state.held.values()]
    state.held = {}
    state.held_until = None
    return entries


def still_firing_jobs(
    state: GroupState,
    entries: list[HeldEntry],
    alerts: Sequence[Alert],
    send_resolved: dict[str, bool],
    make_job: Callable[[str, list[Alert]], NewJob],
    skip: set[str],
    now: float,
) -> list[NewJob]:
    """For each integration that held something for the group and has not just been
    notified (``skip``): notify the group's current alerts again when some still fire."""
    firing = sorted(a.fingerprint for a in alerts if a.status == "firing")
    if not firing:
        return []
    resolved = sorted(a.fingerprint for a in alerts if a.status == "resolved")
    jobs = []
    for entry in entries:
        if entry.integration in skip or entry.integration not in send_resolved:
            continue  # an integration a reload removed is gone
        to_send = [a for a in alerts if send_resolved[entry.integration] or a.status == "firing"]
        state.log[entry.integration] = LogEntry(firing, resolved, now)
        jobs.append(make_job(entry.integration, to_send))
    return jobs


#: How much earlier than its window's end a hold digest is due (seconds).
DIGEST_LEAD = 0.001


class ReleasedHolds:
    """The entries the transitions of one store batch released, by group key, for the
    digest update that comes last in the same batch (so the digest is committed with
    the release, or neither is). A transition may run again (Redis retries the batch):
    each run replaces its group's entries, so the digest sees the last run's."""

    def __init__(self) -> None:
        self._by_group: dict[str, list[HeldEntry]] = {}

    def put(self, group_key: str, entries: list[HeldEntry]) -> None:
        self._by_group[group_key] = entries

    def by_integration(self) -> dict[tuple[str, str], list[HeldEntry]]:
        """(receiver, integration) -> entries, in group-key order."""
        out: dict[tuple[str, str], list[HeldEntry]] = {}
        for key in sorted(self._by_group):
            for entry in self._by_group[key]:
                out.setdefault((entry.receiver, entry.integration), []).append(entry)
        return out


#: Builds one integration's digest jobs from its released entries (relay.core.digests's
#: hold_digest_jobs); pure: it runs inside a store transition, maybe more than once.
DigestBuilder = Callable[[str, str, list[HeldEntry], HoldWindow, float], list[NewJob]]


def digest_update(key: str, released: ReleasedHolds, build: DigestBuilder, now: float) -> GroupUpdate:
    """The last update of a release batch: the digest jobs of every integration whose
    entries the batch released. ``key`` names no group; nothing is written but jobs."""

    def transition(state: GroupState | None) -> TransitionResult:
        jobs: list[NewJob] = []
        for (receiver, integration), entries in released.by_integration().items():
            window = HoldWindow(min(e.first_held_at for e in entries), now)
            jobs += build(receiver, integration, entries, window, now)
        return TransitionResult(state, jobs, changed=False)

    return GroupUpdate(key, transition)


def hold_digest_jobs(
    receiver: str,
    integration: str,
    entries: Sequence[HeldLike],
    window: WindowLike,
    now: float,
) -> list[NewJob]:
    """The digest job of one integration for a hold window that ended (none when nothing
    was held). Pure: called inside a store transition, possibly more than once."""
    digest = Digest.build_from_held(receiver, integration, entries, window)
    if not digest.entries:
        return []
    return [
        NewJob(
            id=new_job_id(),
            receiver=receiver,
            integration=integration,
            group_key=f"hold-digest|{integration}|{window.ended_at:.0f}",
            payload=digest_payload(digest),
            # Due a millisecond before the notifications released with it: jobs of one
            # integration are claimed and sent in due order, so the night's summary
            # comes first and what still fires follows, as docs/storms-and-quiet-hours.md says.
            created_at=now - DIGEST_LEAD,
        )
    ]
