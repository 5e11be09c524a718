"""Incident statistics for ``GET /api/v1/stats`` and the console: per receiver and per
escalation policy, how many incidents, how many were acknowledged and resolved, and the
median and 90th percentile of the time to acknowledge and to resolve.

Times count from the incident's start (its group's first firing alert); an incident
still open counts in ``incidents`` but in neither time. Percentiles are nearest-rank
(the value below which that share of incidents fall), so every figure is a real one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def nearest_rank(values: Sequence[float], share: float) -> float | None:
    """The ``share`` percentile of ``values`` by the nearest-rank method; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _times(values: list[float]) -> dict[str, float | None]:
    return {
        "median": statistics.median(values) if values else None,
        "p90": nearest_rank(values, 0.9),
    }


def _since_start(incident: dict[str, Any], field: str) -> float:
    return float(incident[field]) - float(incident["started_at"])


def summarize(incidents: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts and times of ``incidents``."""
    items = list(incidents)
    acknowledged = [
        float(i["acknowledged_at"]) - float(i["started_at"])
        for i in items
        if i.get("acknowledged_at") is not None
    ]
    resolved = [
        float(i["resolved_at"]) - float(i["started_at"]) for i in items if i.get("resolved_at") is not None
    ]
    return {
        "incidents": len(items),
        "acknowledged": len(acknowledged),
        "resolved": len(resolved),
        "escalated": sum(1 for i in items if int(i.get("steps") or 0) > 1),
        "escalation_steps": sum(int(i.get("steps") or 0) for i in items),
        "time_to_acknowledge_seconds": _times(acknowledged),
        "time_to_resolve_seconds": _times(resolved),
    }


def incident_stats(
    incidents: Iterable[dict[str, Any]], *, receiver: str | None = None, escalation: str | None = None
) -> dict[str, Any]:
    """The whole, per receiver and per policy, of the incidents that pass the filters."""
    chosen = [
        i
        for i in incidents
        if (receiver is None or i.get("receiver") == receiver)
        and (escalation is None or i.get("policy") == escalation)
    ]
    by_receiver: dict[str, list[dict[str, Any]]] = {}
    by_policy: dict[str, list[dict[str, Any]]] = {}
    for incident in chosen:
        by_receiver.setdefault(str(incident.get("receiver")), []).append(incident)
        if incident.get("policy"):
            by_policy.setdefault(str(incident["policy"]), []).append(incident)
    return {
        "total": summarize(chosen),
        "receivers": {name: summarize(items) for name, items in sorted(by_receiver.items())},
        "policies": {name: summarize(items) for name, items in sorted(by_policy.items())},
    }
