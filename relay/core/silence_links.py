"""Links to Alertmanager's new-silence form, pre-filled with matchers for some labels
(and to Grafana Alerting's, for alerts that came from Grafana).

The form reads ``#/silences/new?filter=<matchers>``, where the matchers are written as in
its alert filter: ``{alertname="X", job="node"}``, each value a JSON string (the UI
decodes it with a JSON decoder, so quotes, backslashes and control characters are
escaped that way and any other unicode is kept as is), the whole percent-encoded.
Which labels select a group is the notification's business (relay.core.alerts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote


def _ordered(labels: Mapping[str, str]) -> list[str]:
    """alertname first (what a reader looks for), then the rest by name."""
    return sorted(labels, key=lambda name: (name != "alertname", name))


def silence_filter(labels: Mapping[str, str]) -> str:
    """'{alertname="X", job="node"}': one equality matcher per label."""
    pairs = (f"{name}={json.dumps(str(labels[name]), ensure_ascii=False)}" for name in _ordered(labels))
    return "{" + ", ".join(pairs) + "}"


def silence_url(labels: Mapping[str, str], external_url: str) -> str:
    """The new-silence form of the Alertmanager at ``external_url``, matching ``labels``;
    '' without a URL or without labels (a silence matching everything is no help)."""
    if not external_url or not labels:
        return ""
    matchers = quote(silence_filter(labels), safe="")
    return f"{external_url.rstrip('/')}/#/silences/new?filter={matchers}"


def grafana_silence_url(labels: Mapping[str, str], external_url: str) -> str:
    """Grafana Alerting's new-silence page for ``labels``, written as Grafana writes its
    own alerts' ``silenceURL`` (one ``matcher=name=value`` parameter per label); '' without
    a URL or without labels."""
    if not external_url or not labels:
        return ""
    matchers = "".join(f"&matcher={quote(f'{name}={labels[name]}', safe='')}" for name in _ordered(labels))
    return f"{external_url.rstrip('/')}/alerting/silence/new?alertmanager=grafana{matchers}"
