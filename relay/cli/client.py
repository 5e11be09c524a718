"""The commands' client of a running relay's HTTP API: where it is (--url, --token),
one request with one-line errors, and relay's error answers printed."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:9095"
WEBHOOK_PATH = "/api/v1/alerts/webhook"
url_option = click.option(
    "--url",
    default=None,
    metavar="URL",
    help=f"relay's base URL, or its webhook URL as in an Alertmanager config (default {DEFAULT_URL}).",
)
token_option = click.option(
    "--token", default=None, envvar="RELAY_TOKEN", help="Bearer token ($RELAY_TOKEN)."
)


def relay_urls(url: str | None) -> tuple[str, str]:
    """(relay's base URL, the webhook URL to post to) from what a user gives as --url:
    the base URL, or a webhook URL copied from an Alertmanager config
    (``.../api/v1/alerts/webhook``, with or without ``/{receiver}``, trailing slashes)."""
    text = (url or DEFAULT_URL).strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="--url") from None
    path = parsed.path.rstrip("/")
    base_path, found, tail = path.partition(WEBHOOK_PATH)
    if found and (tail == "" or (tail.startswith("/") and "/" not in tail[1:])):
        webhook_path = path
    else:
        base_path, webhook_path = path, path + WEBHOOK_PATH
    base = str(parsed.copy_with(path=base_path or "/", query=None, fragment=None)).rstrip("/")
    return base, str(parsed.copy_with(path=webhook_path, fragment=None))


def shown(url: str | httpx.URL) -> str:
    """The URL without a password in it, for printing."""
    return str(httpx.URL(str(url)).copy_with(password=None))


def why(exc: httpx.HTTPError) -> str:
    """A transport failure in a few words: connection refused, timed out, ..."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "not an http:// or https:// URL"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection broke ({exc})"
    text = str(exc) or type(exc).__name__
    if text.startswith("[Errno"):  # "[Errno 111] Connection refused"
        text = text.split("]", 1)[-1].strip()
    return text[:1].lower() + text[1:]


def request(method: str, url: str, token: str | None, **kwargs: Any) -> httpx.Response:
    """One request to a running relay; when it cannot be reached, one line and exit 1."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.request(method, url, headers=headers, timeout=10, **kwargs)
    except httpx.HTTPError as exc:
        click.echo(f"cannot reach relay at {shown(url)}: {why(exc)}", err=True)
        sys.exit(1)


def fail(response: httpx.Response) -> NoReturn:
    """Print relay's error answer (its message and details) on stderr, exit 1."""
    try:
        body = response.json()
    except ValueError:
        body = None
    head = f"{response.status_code} {response.reason_phrase}"
    if isinstance(body, dict) and "error" in body:
        click.echo(f"{head}: {body['error']}", err=True)
        for detail in body.get("details") or []:
            click.echo(f"  {detail}", err=True)
    else:
        text = " ".join(response.text.split())[:200] or "(empty body)"
        click.echo(f"{head} from {shown(response.url)}, not an answer of relay's: {text}", err=True)
    if response.status_code == 401:
        click.echo(f"  {token_hint(response)}", err=True)
    sys.exit(1)


def token_hint(response: httpx.Response) -> str:
    """What to do about a 401: give a token, or the right one."""
    if response.request.headers.get("Authorization"):
        return (
            "the token was refused: it must be relay's server.auth.bearer_token (or the content of "
            "bearer_token_file), given with --token or $RELAY_TOKEN"
        )
    return (
        "relay has server.auth set: pass its bearer token with --token TOKEN, or export "
        "RELAY_TOKEN=... (the value of server.auth.bearer_token, or the content of bearer_token_file)"
    )


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve beyond this machine
