"""The `relay` command: serve, check-config, routes test, render, test-alert, notifications."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click
import httpx

from relay import __version__
from relay.channels import CHANNELS_BY_KIND
from relay.config import DEFAULT_CONFIG_PATH, Config, load_config, load_packaged_default, split_listen
from relay.core.alerts import fingerprint_of
from relay.core.digests import DIGEST_KINDS, DigestKind
from relay.core.durations import format_duration
from relay.core.errors import ConfigError
from relay.core.resources import PACKAGED_DEFAULT_SOURCE

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

    from relay.core.errors import StoreUnavailable
    from relay.obs.logs import setup_logging
    from relay.pipeline.runtime import Runtime
    from relay.store import open_store
    from relay.web.server import connection_cap, default_http, protocol_class, raise_open_file_limit
    from relay.web.service import create_app

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
    from relay.pipeline.routing import build_route_tree
    from relay.pipeline.runtime import Runtime

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
        times = "".join(f", {kind} {' '.join(names)}" for kind, names in (
            ("active", route.active_time_intervals), ("mute", route.mute_time_intervals),
            ("hold", route.hold_time_intervals)) if names)
        click.echo(f"    {'  ' * depth}route {route.id}: {matchers} -> {route.receiver} "
                   f"[{group}{', continue' if route.continue_ else ''}{times}]")


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
    from relay.core.resources import default_config_text, example_config_text, example_names

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
@click.option("--at", "at_text", default=None, metavar="TIME",
              help="The time intervals at this ISO 8601 time (2026-03-02T23:00+08:00; without"
                   " an offset, in global.timezone) instead of now.")
@click.argument("labels", nargs=-1, required=True)
def routes_test(config_path: str | None, at_text: str | None, labels: tuple[str, ...]) -> None:
    """Print the receivers that alerts with these labels (k=v ...) reach, and for each
    route reached its mute, active and hold time intervals now and when they change."""
    from relay.core.timeintervals import HORIZON_DAYS
    from relay.pipeline.routing import build_route_tree
    from relay.pipeline.timegate import interval_states

    config, _ = _load(config_path)
    zone = ZoneInfo(config.global_.timezone)
    now = _parse_at(at_text, zone) if at_text is not None else datetime.now(UTC).timestamp()
    label_set = _parse_labels(labels)
    reached = build_route_tree(config.route).match(label_set)
    receivers: list[str] = []
    for route in reached:
        if route.receiver not in receivers:
            receivers.append(route.receiver)
    click.echo(",".join(receivers))
    intervals = config.interval_specs()
    for route in reached:
        click.echo(f"  via route {route.id} -> {route.receiver}", err=True)
        for state in interval_states(route, intervals, now):
            names = ", ".join(state.in_force) if state.in_force else "none in force"
            verb = "starts" if not state.in_force else "ends"
            if state.kind == "active":
                verb = "ends" if state.in_force else "starts"
            until = (f"; {verb} {_when(state.changes_at, zone)} (in "
                     f"{format_duration(state.changes_at - now)})"
                     if state.changes_at is not None else
                     f"; no change within {HORIZON_DAYS} days")
            click.echo(f"    {state.kind}_time_intervals [{', '.join(state.names)}]: {names}"
                       f" -> {state.effect}{until}", err=True)


def _parse_at(text: str, zone: tzinfo) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time (e.g. 2026-03-02T23:00+08:00)",
                                 param_hint="--at") from None
    return (when if when.tzinfo is not None else when.replace(tzinfo=zone)).timestamp()


def _parse_labels(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected name=value, got {pair!r}")
        labels[name] = value
    return labels


DEFAULT_URL = "http://127.0.0.1:9095"
WEBHOOK_PATH = "/api/v1/alerts/webhook"
url_option = click.option(
    "--url", default=None, metavar="URL",
    help=f"relay's base URL, or its webhook URL as in an Alertmanager config (default {DEFAULT_URL}).",
)
token_option = click.option("--token", default=None, envvar="RELAY_TOKEN",
                            help="Bearer token ($RELAY_TOKEN).")


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


def _shown(url: str | httpx.URL) -> str:
    """The URL without a password in it, for printing."""
    return str(httpx.URL(str(url)).copy_with(password=None))


def _why(exc: httpx.HTTPError) -> str:
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


def _request(method: str, url: str, token: str | None, **kwargs: Any) -> httpx.Response:
    """One request to a running relay; when it cannot be reached, one line and exit 1."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.request(method, url, headers=headers, timeout=10, **kwargs)
    except httpx.HTTPError as exc:
        click.echo(f"cannot reach relay at {_shown(url)}: {_why(exc)}", err=True)
        sys.exit(1)


def _fail(response: httpx.Response) -> NoReturn:
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
        click.echo(f"{head} from {_shown(response.url)}, not an answer of relay's: {text}", err=True)
    sys.exit(1)


def _display_zone(config_path: str | None) -> tzinfo | None:
    """global.timezone of --config, else of the default config file if it loads;
    None (local time) when there is none."""
    if config_path is not None:
        config, _ = _load(config_path)
        return ZoneInfo(config.global_.timezone)
    path = _config_path()
    if path is None:
        return None
    try:
        return ZoneInfo(load_config(path).global_.timezone)
    except ConfigError:
        return None


def _when(seconds: float, zone: tzinfo | None) -> str:
    """``2026-11-22 14:25:51 +08:00``: in ``zone``, or in local time when None."""
    when = datetime.fromtimestamp(seconds, zone or UTC)
    if zone is None:
        when = when.astimezone()
    offset = when.strftime("%z")
    return f"{when:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:5]}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def new_test_id() -> str:
    """A label value unique to one test alert, so dedup never takes it for the last one."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


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
@url_option
@token_option
@click.option("--severity", default="warning", show_default=True)
@click.option("--resolved", is_flag=True, help="Send the alert as resolved.")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Extra label (repeatable).")
@click.option("--receiver", default=None,
              help="Send straight through this receiver's integrations with the real config.")
@config_option
def test_alert(url: str | None, token: str | None, severity: str, resolved: bool,
               labels: tuple[str, ...], receiver: str | None, config_path: str | None) -> None:
    """Post a synthetic alert to a running relay, or (--receiver) straight to its channels.

    An alert posted to relay carries a unique test_id label, so it is a new alert, never a
    duplicate of the last one. When relay sends nothing, its reasons are printed.
    """
    if receiver is not None:
        from relay.pipeline.preview import send_direct

        config, _ = _load(config_path)
        payload = synthetic_webhook(severity, resolved, _parse_labels(labels))
        sys.exit(asyncio.run(send_direct(config, receiver, payload, click.echo)))
    _, target = relay_urls(url)
    zone = _display_zone(config_path)
    payload = synthetic_webhook(severity, resolved, {"test_id": new_test_id(), **_parse_labels(labels)})
    response = _request("POST", target, token, json=payload)
    click.echo(f"posted to {_shown(target)}")
    if response.status_code != 200:
        _fail(response)
    answer = response.json()
    notified = int(answer.get("notifications", 0))
    click.echo(f"{answer.get('status', 'accepted')}: {_count(int(answer.get('alerts', 0)), 'alert')}, "
               f"{_count(notified, 'notification')}")
    if notified:
        return
    suppressed = answer.get("suppressed") or []
    for item in suppressed:
        last = item.get("last_sent")
        since = f" (last sent {_when(float(last), zone)})" if last is not None else ""
        click.echo(f"  {item.get('integration') or item.get('receiver')}: {item['reason']}{since}")
    if not suppressed:
        click.echo("  nothing suppressed: a group_by route notifies when its group flushes "
                   "(group_wait), and a receiver without integrations sends nothing")


@main.command()
@click.option("--channel", required=True,
              type=click.Choice(list(CHANNELS_BY_KIND)))
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
@click.option("--digest", type=click.Choice(DIGEST_KINDS), default=None,
              help="Print the digest a storm (or a hold window's end) would send instead: "
                   "the payload's group as --groups groups, one in three resolved.")
@click.option("--groups", type=click.IntRange(1, 10_000), default=5, show_default=True,
              help="How many groups the --digest preview merges.")
@config_option
def render(channel: str, receiver: str | None, payload_path: str | None, locale: str | None,
           at_text: str | None, digest: DigestKind | None, groups: int,
           config_path: str | None) -> None:
    """Print what would be sent for a webhook, without sending it.

    Bodies go to stdout (JSON for Slack, WeCom and webhooks; headers and parts for email),
    notes to stderr. Exits 1 when a template is broken, printing its file and line.
    With --digest, the digest message instead, every part with its size.
    """
    from relay.pipeline.preview import PayloadError, load_payload, render_preview

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
    sys.exit(asyncio.run(render_preview(config, channel, receiver, payload, click.echo, locale, at,
                                        digest=digest, groups=groups)))


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


def group_name(job: dict[str, Any]) -> str:
    """The alert group of a listed job: the group labels of its key, which is
    ``<receiver>|<Alertmanager group key>`` or ``<receiver>|<route>|{route=..}:{labels}``."""
    key = str(job.get("group_key", ""))
    rest = key.removeprefix(f"{job.get('receiver', '')}|")
    _, sep, labels = rest.partition("}:{")
    return "{" + labels if sep else rest


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell; the last one, free text, is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)),
                       row[-1]]).rstrip() for row in rows]


@notifications.command("list")
@url_option
@token_option
@click.option("--status", type=click.Choice(["pending", "running", "delivered", "dead"]),
              default=None)
@config_option
def notifications_list(url: str | None, token: str | None, status: str | None,
                       config_path: str | None) -> None:
    """List notifications, newest first, with their group, status and last error.

    Times are in the config's global.timezone (local time when there is no config file).
    """
    zone = _display_zone(config_path)
    base, _ = relay_urls(url)
    response = _request("GET", f"{base}/api/v1/notifications", token,
                        params={"status": status} if status else {})
    if response.status_code != 200:
        _fail(response)
    jobs = response.json()["notifications"]
    if not jobs:
        click.echo(f"no {status} notifications" if status else "no notifications")
        return
    header = ("ID", "STATUS", "CREATED", "INTEGRATION", "GROUP", "ATTEMPTS", "LAST ERROR")
    rows: list[tuple[str, ...]] = [header]
    for job in jobs:
        rows.append((job["id"], job["status"], _when(job["created_at"], zone), job["integration"],
                     group_name(job), str(len(job["attempts"])),
                     " ".join(str(job.get("last_error") or "-").split())))
    for line in _table(rows):
        click.echo(line)


@notifications.command("retry")
@click.argument("job_id")
@url_option
@token_option
def notifications_retry(job_id: str, url: str | None, token: str | None) -> None:
    """Re-queue a dead notification."""
    base, _ = relay_urls(url)
    response = _request("POST", f"{base}/api/v1/notifications/{job_id}/retry", token)
    if response.status_code != 202:
        _fail(response)
    click.echo(f"notification {job_id} re-queued")
