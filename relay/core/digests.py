"""Digests: many notifications of one integration summarised in a few messages.

Two things produce them: an alert storm (the dispatcher merges an integration's pending
notifications when they cannot all go out within its rate limit, relay.pipeline.storm) and the end
of a hold window (hold_time_intervals: what fired and resolved while it was held).

A digest is an ordinary job whose payload is ``{"digest": Digest.to_dict()}``, so it is
leased, retried and logged like any notification. It has a header with the totals and one
entry per group: status, alertname, the group's labels, how many alerts, the first
alerts' summaries. Every alert of every merged notification is counted in its group's
entry. Channels render it with their ``<kind>.digest`` template, split on entry
boundaries to their size limit (relay.templating.digest.render_digest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, get_args

from relay.core.alerts import SEVERITY_RANK, Alert, Notification, message_order, severity_rank
from relay.core.rates import UNPACED, Pace
from relay.core.text import alert_silence_url

DigestKind = Literal["storm", "hold"]
DIGEST_KINDS: tuple[DigestKind, ...] = get_args(DigestKind)
Status = Literal["firing", "resolved"]

#: How many alerts of a group a digest quotes (the rest are counted).
SUMMARIES = 3
#: Characters of one quoted summary; a digest is a table of contents, not the alerts.
SUMMARY_CHARS = 140


def alert_summary(alert: Alert) -> str:
    """One line for an alert: its summary, else its description, else its labels."""
    text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    if not text:
        text = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


@dataclass
class DigestEntry:
    """One group in a digest: every alert the merged notifications of it carried."""

    group_key: str  # the store key of the group
    display_key: str  # the group key shown to users (Alertmanager's, or relay's)
    status: Status  # firing when any of its alerts still fires
    alertname: str
    labels: dict[str, str]  # the group's labels
    firing: int
    resolved: int
    summaries: list[str]  # the first SUMMARIES alerts, firing first
    fingerprints: list[str]  # every alert of the group in this digest
    job_ids: list[str] = field(default_factory=list)  # the notifications merged into it
    external_url: str = ""
    #: The severity rank of its first alert (0 critical): digests list the most severe
    #: groups first. Entries stored before it existed rank with "info".
    rank: int = SEVERITY_RANK["info"]

    @property
    def count(self) -> int:
        return self.firing + self.resolved

    @property
    def more(self) -> int:
        """Alerts counted but not quoted."""
        return max(0, self.count - len(self.summaries))

    @property
    def silence_url(self) -> str:
        """Alertmanager's new-silence form for this group's labels ('' without a URL)."""
        if not self.external_url or not self.labels:
            return ""
        alert = Alert(status="firing", labels=self.labels, startsAt="2000-01-01T00:00:00Z")
        return alert_silence_url(alert, self.external_url)

    @classmethod
    def of_alerts(
        cls,
        group_key: str,
        display_key: str,
        labels: Mapping[str, str],
        alerts: Sequence[Alert],
        job_ids: Sequence[str] = (),
        external_url: str = "",
    ) -> DigestEntry:
        ordered = sorted(alerts, key=message_order)
        names = list(dict.fromkeys(a.labels.get("alertname", "") for a in ordered))
        alertname = labels.get("alertname") or ", ".join(n for n in names[:2] if n)
        if len([n for n in names if n]) > 2:
            alertname += ", …"
        firing = sum(1 for a in ordered if a.status == "firing")
        return cls(
            group_key=group_key,
            display_key=display_key,
            status="firing" if firing else "resolved",
            alertname=alertname or display_key,
            labels=dict(labels),
            firing=firing,
            resolved=len(ordered) - firing,
            summaries=[alert_summary(a) for a in ordered[:SUMMARIES]],
            fingerprints=[a.fingerprint for a in ordered],
            job_ids=list(job_ids),
            external_url=external_url,
            rank=severity_rank(ordered[0]) if ordered else SEVERITY_RANK["info"],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DigestEntry:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def digest_order(entry: DigestEntry) -> tuple[bool, int]:
    """Groups in a digest: firing before resolved, then the most severe first."""
    return (entry.status != "firing", entry.rank)


@dataclass
class Digest:
    """Notifications of one integration summarised: totals, then one entry per group."""

    kind: DigestKind
    receiver: str
    integration: str
    entries: list[DigestEntry]
    created_at: float
    window: tuple[float, float] | None = None  # hold: (started_at, ended_at), unix seconds
    external_url: str = ""

    @property
    def groups(self) -> int:
        return len(self.entries)

    @property
    def firing(self) -> int:
        return sum(e.firing for e in self.entries)

    @property
    def resolved(self) -> int:
        return sum(e.resolved for e in self.entries)

    @property
    def alerts(self) -> int:
        return self.firing + self.resolved

    @property
    def job_ids(self) -> list[str]:
        return [job for e in self.entries for job in e.job_ids]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "receiver": self.receiver,
            "integration": self.integration,
            "entries": [e.to_dict() for e in self.entries],
            "created_at": self.created_at,
            "window": list(self.window) if self.window is not None else None,
            "external_url": self.external_url,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Digest:
        window = data.get("window")
        return cls(
            kind=data["kind"],
            receiver=data["receiver"],
            integration=data["integration"],
            entries=[DigestEntry.from_dict(e) for e in data["entries"]],
            created_at=float(data["created_at"]),
            window=(float(window[0]), float(window[1])) if window else None,
            external_url=str(data.get("external_url", "")),
        )

    @classmethod
    def of_notifications(
        cls,
        kind: DigestKind,
        receiver: str,
        integration: str,
        items: Sequence[tuple[str, str, Notification]],
        created_at: float,
        window: tuple[float, float] | None = None,
    ) -> Digest:
        """A digest of ``(job id, group store key, notification)`` items, one entry per
        group: a later notification of a group updates the alerts an earlier one had, and
        every alert any of them carried is counted."""
        by_group: dict[str, list[tuple[str, Notification]]] = {}
        for job_id, group_key, notification in items:
            by_group.setdefault(group_key, []).append((job_id, notification))
        entries: list[DigestEntry] = []
        for group_key, merged in by_group.items():
            alerts: dict[str, Alert] = {}
            for _, notification in merged:
                alerts.update({a.fingerprint: a for a in notification.alerts})
            last = merged[-1][1]
            entries.append(
                DigestEntry.of_alerts(
                    group_key,
                    last.group_key,
                    last.group_labels or last.common_labels,
                    list(alerts.values()),
                    [job for job, _ in merged],
                    last.external_url,
                )
            )
        entries.sort(key=digest_order)  # firing, most severe first; else arrival order
        external = next((e.external_url for e in entries if e.external_url), "")
        return cls(kind, receiver, integration, entries, created_at, window, external)

    @classmethod
    def of_notification(cls, notification: Notification, created_at: float = 0.0) -> Digest:
        """A digest of one notification: what previews and template checks render."""
        return cls.of_notifications(
            "storm",
            notification.receiver,
            "",
            [("", notification.group_key, notification)],
            created_at,
        )

    @classmethod
    def build_from_held(
        cls,
        receiver: str,
        integration: str,
        entries: Sequence[HeldLike],
        window: WindowLike,
    ) -> Digest:
        """The digest of a hold window: one entry per held group with every alert seen."""
        made = [
            DigestEntry.of_alerts(
                e.group_key,
                e.display_group_key,
                e.group_labels,
                [Alert.model_validate(a) for a in e.alerts.values()],
                (),
                e.external_url,
            )
            for e in entries
            if e.alerts
        ]
        made.sort(key=digest_order)
        external = next((e.external_url for e in made if e.external_url), "")
        return cls(
            "hold",
            receiver,
            integration,
            made,
            window.ended_at,
            (window.started_at, window.ended_at),
            external,
        )


class HeldLike(Protocol):
    """What a hold window keeps of one group (relay.pipeline.hold.HeldEntry)."""

    @property
    def group_key(self) -> str: ...
    @property
    def display_group_key(self) -> str: ...
    @property
    def group_labels(self) -> dict[str, str]: ...
    @property
    def external_url(self) -> str: ...
    @property
    def alerts(self) -> dict[str, dict[str, Any]]: ...


class WindowLike(Protocol):
    @property
    def started_at(self) -> float: ...
    @property
    def ended_at(self) -> float: ...


@dataclass(frozen=True)
class DigestMessage:
    """One delivery attempt of a digest job (the digest counterpart of channels.Message)."""

    job_id: str
    digest: Digest
    integration: str
    attempt: int = 1
    #: Each part waits for its place in the destination's limit (the dispatcher's).
    pace: Pace = field(default=UNPACED, compare=False, repr=False)


def digest_summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the job API says of a digest job (relay.core.jobs.Job.to_api): its kind,
    totals and the merged jobs, read leniently from the payload's ``digest`` as stored."""
    entries = data.get("entries", [])
    return {
        "kind": data.get("kind"),
        "groups": len(entries),
        "firing": sum(int(e.get("firing", 0)) for e in entries),
        "resolved": sum(int(e.get("resolved", 0)) for e in entries),
        "jobs": [job for e in entries for job in e.get("job_ids", [])],
    }


def digest_payload(digest: Digest) -> dict[str, Any]:
    """The payload of a digest job."""
    return {"digest": digest.to_dict()}


def digest_of_payload(payload: Mapping[str, Any]) -> Digest | None:
    """The digest a job carries, or None for an ordinary notification."""
    data = payload.get("digest")
    return Digest.from_dict(data) if isinstance(data, Mapping) else None
