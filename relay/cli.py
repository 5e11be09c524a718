"""The `relay` command: serve, check-config, routes test, render, test-alert, notifications."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx

from relay import __version__
from relay.config import DEFAULT_CONFIG_PATH, Config, load_config, split_listen
from relay.errors import ConfigError
from relay.models import fingerprint_of
from relay.resources import PACKAGED_DEFAULT_SOURCE, load_packaged_default

logger = logging.getLogger("relay.cli")

config_option = click.option(
    "--config", "config_path", default=None, metavar="PATH",
    help="Config file (default: $RELAY_CONFIG, else ./config/relay.yml if it exists, else the"
         " default config shipped with relay).",
)


def _config_path() -> str | None:
    """$RELAY_CONFIG, else config/relay.yml when it exists here; None means the default
    config shipped inside the package (what a plain `pip install` runs with)."""
    path = os.environ.get("RELAY_CONFIG")
    if path:
        return path
    return DEFAULT_CONFIG_PATH if Path(DEFAULT_CONFIG_PATH).is_file() else None


def _load(config_path: str | None) -> tuple[Config, str | None]:
    """The config and its file; (the packaged default, None) when no file is given, set in
    $RELAY_CONFIG or found at config/relay.yml."""
    path = config_path or _config_path()
    try:
        if path is None:
            # A log line (JSON under `serve --log-format json`), printed on stderr elsewhere.
            logger.warning("no config file (--config, $RELAY_CONFIG or ./config/relay.yml): using"
                           " the default config shipped with relay (`relay config example`"
                           " prints a starting point)")
            return load_packaged_default(), None
        config = load_config(path)
    except ConfigError as exc:
        click.echo(f"config {path or PACKAGED_DEFAULT_SOURCE} is invalid:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        _warn(getattr(exc, "warnings", []))
        raise SystemExit(1) from None
    _warn(config.warnings)
    return config, path


def _warn(warnings: list[str]) -> None:
    """Config warnings: accepted, but likely not what was meant (every command, serve too)."""
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@click.group()
@click.version_option(__version__, prog_name="relay")
def main() -> None:
    """relay: Alertmanager webhook receiver and notification router."""


@main.command()
@config_option
@click.option("--listen", default=None, metavar="HOST:PORT", help="Overrides server.listen.")
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json",
              show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def serve(config_path: str | None, listen: str | None, log_format: str, log_level: str,
          access_log: bool) -> None:
    """Serve the webhook API and deliver notifications."""
    import uvicorn

    from relay.app import create_app
    from relay.errors import StoreUnavailable
    from relay.logs import setup_logging
    from relay.runtime import Runtime
    from relay.server import connection_cap, default_http, protocol_class, raise_open_file_limit
    from relay.store import open_store

    setup_logging(log_format, log_level)
    config, path = _load(config_path)
    problems = Runtime.check_templates(config)
    if problems:
        click.echo("templates are invalid:", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1)
    try:
        host, port = split_listen(listen or config.server.listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    if config.server.auth is None and not _is_loopback(host):
        logger.warning("listening on %s:%d without server.auth: anyone who can reach it can post"
                       " alerts, read the delivery log and reload the config", host, port)
    store = open_store(config.storage.url)
    try:
        store.prepare()  # a second relay on the same SQLite file stops here, before serving
    except StoreUnavailable as exc:
        click.echo(f"relay cannot start: {exc}", err=True)
        raise SystemExit(1) from None
    app = create_app(config, config_path=path, store=store)
    server = config.server
    # Many slow clients must meet max_connections, not the open-file limit.
    max_connections = connection_cap(server.max_connections, raise_open_file_limit())
    http = protocol_class(default_http(), read_timeout=server.read_timeout,
                          max_connections=max_connections, refused=app.state.relay.count_refused)
    uvicorn.run(
        app, host=host, port=port, log_config=None, access_log=access_log,
        timeout_graceful_shutdown=10, server_header=False, http=http,
        timeout_keep_alive=max(1, round(server.keepalive_timeout)),
    )


@main.command("check-config")
@config_option
def check_config(config_path: str | None) -> None:
    """Validate the config; print a summary, or every problem and exit 1."""
    from relay.routing import build_route_tree
    from relay.runtime import Runtime

    config, _ = _load(config_path)
    problems = Runtime.check_templates(config)
    if problems:
        click.echo(f"config {config.source} is invalid:", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1)
    tree = build_route_tree(config.route)
    routes = tree.walk()
    integrations = [i for r in config.receivers for i, _ in r.integrations()]
    click.echo(f"config {config.source} is valid (hash {config.digest})")
    auth = config.server.auth
    auth_kind = "none" if auth is None else "bearer" if auth.bearer_token else "basic"
    click.echo(f"  listen: {config.server.listen}, auth: {auth_kind}")
    click.echo(f"  storage: {config.storage.url.split('@')[-1]}")
    click.echo(f"  receivers: {len(config.receivers)}, integrations: {len(integrations)}, "
               f"routes: {len(routes)}")
    for receiver in config.receivers:
        kinds = [i.split("/", 1)[1] for i, _ in receiver.integrations()]
        described = ", ".join(kinds) or "no integrations (alerts are dropped)"
        click.echo(f"    {receiver.name}: {described}")
    for route in routes:
        depth = route.id.count(".")
        matchers = ", ".join(str(m) for m in route.matchers) or "(all)"
        group = "pass-through" if route.passthrough else "group_by " + ",".join(
            [*route.group_by, *(["..."] if route.group_by_all else [])])
        click.echo(f"    {'  ' * depth}route {route.id}: {matchers} -> {route.receiver} "
                   f"[{group}{', continue' if route.continue_ else ''}]")


@main.group("config")
def config_group() -> None:
    """Starting points for a config file."""


@config_group.command("example")
@click.option("--channel", default=None, metavar="NAME",
              help="An example for one channel or setup (see --list); default: the embedded "
                   "default config.")
@click.option("--list", "list_names", is_flag=True, help="Name the examples there are.")
def config_example(channel: str | None, list_names: bool) -> None:
    """Print a commented config to start from: relay config example --channel wecom > relay.yml"""
    from relay.resources import default_config_text, example_config_text, example_names

    names = example_names()
    if list_names:
        click.echo("\n".join(names))
        return
    if channel is None:
        click.echo(default_config_text(), nl=False)
        return
    if channel not in names:
        raise click.BadParameter(f"no example {channel!r} (there are: {', '.join(names)})",
                                 param_hint="--channel")
    click.echo(example_config_text(channel), nl=False)


@main.group()
def routes() -> None:
    """Inspect the route tree."""


@routes.command("test")
@config_option
@click.argument("labels", nargs=-1, required=True)
def routes_test(config_path: str | None, labels: tuple[str, ...]) -> None:
    """Print the receivers that alerts with these labels (k=v ...) reach."""
    from relay.routing import build_route_tree

    config, _ = _load(config_path)
    label_set = _parse_labels(labels)
    reached = build_route_tree(config.route).match(label_set)
    receivers: list[str] = []
    for route in reached:
        if route.receiver not in receivers:
            receivers.append(route.receiver)
    click.echo(",".join(receivers))
    for route in reached:
        click.echo(f"  via route {route.id} -> {route.receiver}", err=True)


def _parse_labels(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected name=value, got {pair!r}")
        labels[name] = value
    return labels


def synthetic_webhook(severity: str, resolved: bool, labels: dict[str, str]) -> dict[str, Any]:
    """A v4 webhook as Alertmanager would send it for one test alert."""
    alert_labels = {"alertname": "RelayTestAlert", "severity": severity, **labels}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alert = {
        "status": "resolved" if resolved else "firing",
        "labels": alert_labels,
        "annotations": {
            "summary": "Test alert sent by relay test-alert",
            "description": "If you can read this, Alertmanager → relay → your channel works.",
        },
        "startsAt": now,
        "endsAt": now if resolved else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint_of(alert_labels),
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="RelayTestAlert"}',
        "truncatedAlerts": 0,
        "receiver": "relay",
        "status": alert["status"],
        "alerts": [alert],
        "groupLabels": {"alertname": "RelayTestAlert"},
        "commonLabels": alert_labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "",
    }


@main.command("test-alert")
@click.option("--url", default=None, help="relay's base URL (default http://127.0.0.1:9095).")
@click.option("--token", default=None, envvar="RELAY_TOKEN", help="Bearer token ($RELAY_TOKEN).")
@click.option("--severity", default="warning", show_default=True)
@click.option("--resolved", is_flag=True, help="Send the alert as resolved.")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Extra label (repeatable).")
@click.option("--receiver", default=None,
              help="Send straight through this receiver's integrations with the real config.")
@config_option
def test_alert(url: str | None, token: str | None, severity: str, resolved: bool,
               labels: tuple[str, ...], receiver: str | None, config_path: str | None) -> None:
    """Post a synthetic alert to a running relay, or (--receiver) straight to its channels."""
    payload = synthetic_webhook(severity, resolved, _parse_labels(labels))
    if receiver is not None:
        from relay.preview import send_direct

        config, _ = _load(config_path)
        sys.exit(asyncio.run(send_direct(config, receiver, payload, click.echo)))
    target = (url or "http://127.0.0.1:9095").rstrip("/") + "/api/v1/alerts/webhook"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(target, json=payload, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        click.echo(f"could not reach relay at {target}: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{response.status_code} {response.reason_phrase}")
    click.echo(response.text)
    sys.exit(0 if response.status_code == 200 else 1)


@main.command()
@click.option("--channel", required=True,
              type=click.Choice(["log", "email", "slack", "wecom", "wecom_app", "webhook"]))
@click.option("--receiver", default=None, metavar="NAME|ID",
              help="Use this receiver's first integration of the channel, or the integration "
                   "with this id (team/wecom/1). Default: the channel's defaults.")
@click.option("--payload", "payload_path", type=click.Path(dir_okay=False), default=None,
              help="An Alertmanager webhook JSON file (default: a built-in sample).")
@click.option("--locale", type=click.Choice(["en", "zh-CN"]), default=None,
              help="Overrides the integration's locale and global.locale.")
@click.option("--at", "at_text", default=None, metavar="TIME",
              help="Render as of this time (RFC 3339, e.g. 2026-11-25T10:00:00Z): the sample's "
                   "alerts start relative to it, 'firing for' counts up to it. Default: now.")
@config_option
def render(channel: str, receiver: str | None, payload_path: str | None, locale: str | None,
           at_text: str | None, config_path: str | None) -> None:
    """Print what would be sent for a webhook, without sending it.

    Bodies go to stdout (JSON for Slack, WeCom and webhooks; headers and parts for email),
    notes to stderr. Exits 1 when a template is broken, printing its file and line.
    """
    from relay.preview import PayloadError, load_payload, render_preview

    at = _parse_time(at_text, "--at") if at_text is not None else None
    config, _ = _load(config_path)
    payload = None
    if payload_path is not None:
        try:
            payload = load_payload(payload_path)
        except PayloadError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            sys.exit(1)
    sys.exit(asyncio.run(render_preview(config, channel, receiver, payload, click.echo, locale, at)))


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve beyond this machine


def _parse_time(text: str, option: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an RFC 3339 time", param_hint=option) from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no time zone (add Z or +08:00)",
                                 param_hint=option)
    return when.timestamp()


@main.group()
def notifications() -> None:
    """Inspect and retry notifications in a running relay."""


def _api(url: str | None, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=(url or "http://127.0.0.1:9095").rstrip("/"), headers=headers,
                        timeout=10)


@notifications.command("list")
@click.option("--url", default=None)
@click.option("--token", default=None, envvar="RELAY_TOKEN")
@click.option("--status", type=click.Choice(["pending", "running", "delivered", "dead"]),
              default=None)
def notifications_list(url: str | None, token: str | None, status: str | None) -> None:
    """List notifications with their last error."""
    with _api(url, token) as client:
        response = client.get("/api/v1/notifications", params={"status": status} if status else {})
    if response.status_code != 200:
        click.echo(f"{response.status_code}: {response.text}", err=True)
        sys.exit(1)
    for job in response.json()["notifications"]:
        created = datetime.fromtimestamp(job["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{job['id']}  {job['status']:<9} {created}  {job['integration']:<28} "
                   f"attempts={len(job['attempts'])} {job['last_error']}")


@notifications.command("retry")
@click.argument("job_id")
@click.option("--url", default=None)
@click.option("--token", default=None, envvar="RELAY_TOKEN")
def notifications_retry(job_id: str, url: str | None, token: str | None) -> None:
    """Re-queue a dead notification."""
    with _api(url, token) as client:
        response = client.post(f"/api/v1/notifications/{job_id}/retry")
    click.echo(f"{response.status_code}: {response.text}")
    sys.exit(0 if response.status_code == 202 else 1)
