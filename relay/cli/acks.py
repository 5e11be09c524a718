"""`relay ack` and `relay unack`: acknowledge a group in a running relay, or lift it."""

from __future__ import annotations

from urllib.parse import quote

import click

from relay.cli.client import fail, relay_urls, request, token_option, url_option


def _send(url: str | None, token: str | None, group: str, action: str, by: str | None, comment: str) -> None:
    base, _ = relay_urls(url)
    body = {key: value for key, value in (("by", by), ("comment", comment), ("via", "cli")) if value}
    response = request("POST", f"{base}/api/v1/groups/{quote(group, safe='')}/{action}", token, json=body)
    if response.status_code != 200:
        fail(response)
    answer = response.json()
    ack = answer.get("acknowledged")
    if ack is None:
        click.echo(f"{answer['id']} {answer['key']}: not acknowledged; repeats are due again")
        return
    who = ack.get("person") or ack.get("by")
    click.echo(f"{answer['id']} {answer['key']}: acknowledged by {who}")


@click.command("ack")
@url_option
@token_option
@click.option(
    "--by", default=None, help="Who acknowledges (a name of people:, or anyone); default: the token's user."
)
@click.option("--comment", default="", help="Kept with the acknowledgement.")
@click.argument("group")
def ack(url: str | None, token: str | None, by: str | None, comment: str, group: str) -> None:
    """Acknowledge GROUP: its key, its id (as the console shows it) or a unique prefix of
    either. Its repeat notifications stop until its firing alerts change."""
    _send(url, token, group, "ack", by, comment)


@click.command("unack")
@url_option
@token_option
@click.argument("group")
def unack(url: str | None, token: str | None, group: str) -> None:
    """Lift GROUP's acknowledgement: its repeats are due again."""
    _send(url, token, group, "unack", None, "")
