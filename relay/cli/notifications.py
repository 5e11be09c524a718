"""`relay notifications list|retry`: the delivery log of a running relay."""

from __future__ import annotations

from typing import Any

import click

from relay.cli.client import fail, relay_urls, request, token_option, url_option
from relay.cli.common import config_option, display_zone, when
from relay.core.jobs import JOB_STATUSES


@click.group()
def notifications() -> None:
    """Inspect and retry notifications in a running relay."""


def group_name(job: dict[str, Any]) -> str:
    """The alert group of a listed job: the group labels of its key, which is
    ``<receiver>|<Alertmanager group key>`` or ``<receiver>|<route>|{route=..}:{labels}``."""
    key = str(job.get("group_key", ""))
    rest = key.removeprefix(f"{job.get('receiver', '')}|")
    _, sep, labels = rest.partition("}:{")
    return "{" + labels if sep else rest


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell; the last one, free text, is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


@notifications.command("list")
@url_option
@token_option
@click.option("--status", type=click.Choice(JOB_STATUSES), default=None)
@config_option
def notifications_list(
    url: str | None, token: str | None, status: str | None, config_path: str | None
) -> None:
    """List notifications, newest first, with their group, status and last error.

    Times are in the config's global.timezone (local time when there is no config file).
    """
    zone = display_zone(config_path)
    base, _ = relay_urls(url)
    response = request(
        "GET", f"{base}/api/v1/notifications", token, params={"status": status} if status else {}
    )
    if response.status_code != 200:
        fail(response)
    jobs = response.json()["notifications"]
    if not jobs:
        click.echo(f"no {status} notifications" if status else "no notifications")
        return
    header = ("ID", "STATUS", "CREATED", "INTEGRATION", "GROUP", "ATTEMPTS", "LAST ERROR")
    rows: list[tuple[str, ...]] = [header]
    for job in jobs:
        rows.append(
            (
                job["id"],
                job["status"],
                when(job["created_at"], zone),
                job["integration"],
                group_name(job),
                str(len(job["attempts"])),
                " ".join(str(job.get("last_error") or "-").split()),
            )
        )
    for line in table(rows):
        click.echo(line)


@notifications.command("retry")
@click.argument("job_id")
@url_option
@token_option
def notifications_retry(job_id: str, url: str | None, token: str | None) -> None:
    """Re-queue a dead notification."""
    base, _ = relay_urls(url)
    response = request("POST", f"{base}/api/v1/notifications/{job_id}/retry", token)
    if response.status_code != 202:
        fail(response)
    click.echo(f"notification {job_id} re-queued")
