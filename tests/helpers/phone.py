"""What the phone channels' tests share: a critical DiskFull notification, sending it
through one integration of a config, and the relay.yml of a page that calls whoever is
on call when nobody acknowledges."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx

from relay.channels import make_renderer
from relay.channels.base import MemoryRefs, Message
from relay.config import parse_config
from relay.core.alerts import Alert, Escalation, Notification
from relay.pipeline.runtime import notifier_context


def disk_full(
    *, summary: str = "磁盘将满 🔥", escalation: Escalation | None = None, status: str = "firing"
) -> Notification:
    """One critical DiskFull alert for receiver ``phones``."""
    alert = Alert.model_validate(
        {
            "status": status,
            "labels": {"alertname": "DiskFull", "severity": "critical"},
            "annotations": {"summary": summary},
            "startsAt": "2026-11-22T06:25:51Z",
        }
    )
    return Notification(
        receiver="phones",
        group_key="g1",
        status=status,  # type: ignore[arg-type]
        alerts=[alert],
        group_labels={"alertname": "DiskFull"},
        escalation=escalation,
    )


async def send_through(
    config_text: str, kind: str, n: Notification, refs: MemoryRefs | None = None, job: str = "0" * 32
) -> Any:
    """``n`` sent once through the first receiver's ``kind`` integration."""
    config = parse_config(config_text, env={})
    async with httpx.AsyncClient() as http:
        ctx = notifier_context(config, http=http, renderer=make_renderer(config), refs=refs or MemoryRefs())
        for integration, entry in config.receivers[0].integrations():
            if integration.split("/")[1] == kind:
                return await entry.build(ctx).send(Message(job, n, integration))  # type: ignore[attr-defined]
    raise AssertionError(kind)


def paging_config(
    tmp_path: Path, phones: str, *, person: str, phone: str, after: str = "2s", more: str = ""
) -> Path:
    """relay.yml on SQLite: critical alerts go to a log receiver and escalate to ``phones``
    (the receiver's channel entries, YAML) ``after`` the first step, paging ``person``
    (their ``phone``) on call. ``more``: top-level YAML before the rest."""
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(more)
        + textwrap.dedent(f"""
        storage: {{url: 'sqlite:///{tmp_path}/relay.db'}}
        delivery: {{backoff_initial: 0.2s, backoff_max: 1s}}
        route:
          receiver: chat
          routes:
            - {{matchers: ['severity="critical"'], receiver: chat, escalation: wake}}
        receivers:
          - name: chat
            log_configs: [{{}}]
          - name: phones
        """)
        + textwrap.indent(textwrap.dedent(phones).strip("\n") + "\n", "    ")
        + textwrap.dedent(f"""
        people:
          - {{name: {person}, phone: "{phone}"}}
        schedules:
          - name: sre
            rotations: [{{people: [{person}], start: "2026-01-05T00:00:00", shift: 1w}}]
        escalation_policies:
          - name: wake
            steps:
              - targets: [schedule:sre]
              - {{after: {after}, targets: [schedule:sre], receiver: phones}}
              - {{after: 30s, targets: [schedule:sre], receiver: phones}}
        """)
    )
    return path
