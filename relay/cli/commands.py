"""The `relay` command: serve, check-config, routes test, render, test-alert, notifications."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import click

from relay import __version__
from relay.channels import CHANNELS_BY_KIND
from relay.cli.acks import ack, unack
from relay.cli.client import fail, is_loopback, relay_urls, request, shown, token_option, url_option
from relay.cli.common import config_option, count, display_zone, load, when
from relay.cli.notifications import notifications
from relay.cli.webhook import new_test_id, synthetic_webhook
from relay.config import Config
from relay.config.sections import split_listen
from relay.core.digests import DIGEST_KINDS, DigestKind
from relay.core.durations import format_duration
from relay.core.text import parse_rfc3339

logger = logging.getLogger("relay.cli")
#: Seconds a thread runs before the interpreter lets another one (the event loop) go on.
SWITCH_INTERVAL = 0.001
#: Allocations (less deallocations) between the garbage collector's youngest-generation
#: runs; Python's default is 700. Each webhook and delivery allocates a few thousand
#: short-lived objects, so at 700 the collector ran several times per webhook.
GC_YOUNGEST_THRESHOLD = 10_000


@click.group()
@click.version_option(__version__, prog_name="relay")
def main() -> None:
    """relay: Alertmanager webhook receiver and notification router."""


main.add_command(notifications)
main.add_command(ack)
main.add_command(unack)


@main.command()
@config_option
@click.option("--listen", default=None, metavar="HOST:PORT", help="Overrides server.listen.")
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def serve(
    config_path: str | None, listen: str | None, log_format: str, log_level: str, access_log: bool
) -> None:
    """Serve the webhook API and deliver notifications."""
    import uvicorn

    from relay.core.errors import StoreUnavailable
    from relay.obs.logs import setup_logging
    from relay.pipeline.runtime import Runtime
    from relay.store import open_store
    from relay.web.server import connection_cap, default_http, protocol_class, raise_open_file_limit
    from relay.web.service import create_app

    setup_logging(log_format, log_level)
    config, path = load(config_path)
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
    if config.server.auth is None and not is_loopback(host):
        logger.warning(
            "listening on %s:%d without server.auth: anyone who can reach it can post"
            " alerts, read the delivery log and reload the config",
            host,
            port,
        )
    store = open_store(config.storage)
    try:
        store.prepare()  # a second relay on the same SQLite file stops here, before serving
    except StoreUnavailable as exc:
        click.echo(f"relay cannot start: {exc}", err=True)
        raise SystemExit(1) from None
    app = create_app(config, config_path=path, store=store)
    server = config.server
    # Many slow clients must meet max_connections, not the open-file limit.
    max_connections = connection_cap(server.max_connections, raise_open_file_limit())
    http = protocol_class(
        default_http(),
        read_timeout=server.read_timeout,
        max_connections=max_connections,
        refused=app.state.relay.count_refused,
    )
    # Rendering, the store's writer and the event loop are threads of one interpreter,
    # which runs one of them at a time. Handing over every 1 ms instead of every 5 ms
    # keeps the loop's turn short while a big group is rendered (measured: the longest
    # /-/healthy answer during a 10,000-alert group went from 0.24 s to 0.15 s).
    sys.setswitchinterval(SWITCH_INTERVAL)
    # What exists now (modules, config, templates, routes) lives as long as the process:
    # frozen, the collector stops walking it on every full collection; and it runs less
    # often (measured with bench/ingest.py, new group per request: 803 → 746 µs of CPU
    # per webhook).
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=10,
        server_header=False,
        http=http,
        timeout_keep_alive=max(1, round(server.keepalive_timeout)),
    )


@main.command("check-config")
@config_option
def check_config(config_path: str | None) -> None:
    """Validate the config; print a summary, or every problem and exit 1."""
    from relay.pipeline.routing import build_route_tree
    from relay.pipeline.runtime import Runtime

    config, _ = load(config_path)
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
    click.echo(
        f"  receivers: {len(config.receivers)}, integrations: {len(integrations)}, routes: {len(routes)}"
    )
    for receiver in config.receivers:
        kinds = [integration.entry for integration, _ in receiver.entries()]
        described = ", ".join(kinds) or "no integrations (alerts are dropped)"
        click.echo(f"    {receiver.name}: {described}")
    for route in routes:
        depth = route.id.count(".")
        matchers = ", ".join(str(m) for m in route.matchers) or "(all)"
        group = (
            "pass-through"
            if route.passthrough
            else "group_by " + ",".join([*route.group_by, *(["..."] if route.group_by_all else [])])
        )
        times = "".join(
            f", {kind} {' '.join(names)}"
            for kind, names in (
                ("active", route.active_time_intervals),
                ("mute", route.mute_time_intervals),
                ("hold", route.hold_time_intervals),
            )
            if names
        )
        times += f", escalation {route.escalation}" if route.escalation else ""
        click.echo(
            f"    {'  ' * depth}route {route.id}: {matchers} -> {route.receiver} "
            f"[{group}{', continue' if route.continue_ else ''}{times}]"
        )


@main.group("config")
def config_group() -> None:
    """Starting points for a config file."""


@config_group.command("example")
@click.option(
    "--channel",
    default=None,
    metavar="NAME",
    help="An example for one channel or setup (see --list); default: the embedded default config.",
)
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
        raise click.BadParameter(
            f"no example {channel!r} (there are: {', '.join(names)})", param_hint="--channel"
        )
    click.echo(example_config_text(channel), nl=False)


@main.group()
def routes() -> None:
    """Inspect the route tree."""


@routes.command("test")
@config_option
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="TIME",
    help="The time intervals at this ISO 8601 time (2026-03-02T23:00+08:00; without"
    " an offset, in global.timezone) instead of now.",
)
@click.argument("labels", nargs=-1, required=True)
def routes_test(config_path: str | None, at_text: str | None, labels: tuple[str, ...]) -> None:
    """Print the receivers that alerts with these labels (k=v ...) reach on the first
    line (as amtool does), then for each route reached: how long a first alert waits for
    its first notification, its mute, active and hold time intervals now and when they
    change, and its escalation policy with whom each step would page at that time."""
    from relay.core.timeintervals import HORIZON_DAYS
    from relay.pipeline.route_report import report_route
    from relay.pipeline.routing import build_route_tree

    config, _ = load(config_path)
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
        report = report_route(route, intervals, now, config.global_.timezone)
        click.echo(f"  via route {route.id} -> {route.receiver}")
        click.echo(f"    first notification: {report.first_notification()}")
        if report.gate_text():
            click.echo(f"    now: {report.gate_text()}")
        for state in report.intervals:
            names = ", ".join(state.in_force) if state.in_force else "none in force"
            verb = "starts" if not state.in_force else "ends"
            if state.kind == "active":
                verb = "ends" if state.in_force else "starts"
            until = (
                f"; {verb} {when(state.changes_at, zone)} (in {format_duration(state.changes_at - now)})"
                if state.changes_at is not None
                else f"; no change within {HORIZON_DAYS} days"
            )
            kinds = f"{state.kind}_time_intervals [{', '.join(state.names)}]"
            click.echo(f"    {kinds}: {names} -> {state.effect}{until}")
        if route.escalation:
            for line in _escalation_lines(config, route.escalation, route.receiver, now):
                click.echo(f"    {line}")


def _escalation_lines(config: Config, name: str, receiver: str, now: float) -> list[str]:
    """A policy's steps as ``routes test`` shows them, each target with whom it names at
    ``now`` (the file's overrides only: those made through the API live in the store)."""
    from relay.core.schedules import on_call

    policy = next(p for p in config.escalation_policies if p.name == name).model()
    names = {person.name: person.shown for person in config.people}

    def named(target: str) -> str:
        kind, _, who = target.partition(":")
        if kind == "person":
            return f"{target} ({names.get(who, who)})"
        schedule = config.schedule(who)
        person = on_call(schedule, now)[0] if schedule is not None else None
        return f"{target} ({names.get(person, person) if person else 'nobody on call'})"

    lines = [f"escalation {name} (until acknowledged or resolved):"]
    for number, step in enumerate(policy.steps, 1):
        via = step.receiver or receiver
        targets = ", ".join(named(t) for t in step.targets)
        lines.append(f"  step {number} after {format_duration(step.after)} via {via}: {targets}")
    if policy.repeat:
        lines.append(
            f"  then the steps again {policy.repeat} more time(s),"
            f" {format_duration(policy.repeat_after)} after the last step"
        )
    return lines


def _parse_at(text: str, zone: tzinfo) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-03-02T23:00+08:00)", param_hint="--at"
        ) from None
    return (when if when.tzinfo is not None else when.replace(tzinfo=zone)).timestamp()


def _parse_labels(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected name=value, got {pair!r}")
        labels[name] = value
    return labels


@main.command("oncall")
@config_option
@click.option("--schedule", "schedule", default=None, help="One schedule only (default: every one).")
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="TIME",
    help="Who is on call at this ISO 8601 time (without an offset, in global.timezone) instead of now.",
)
@click.option(
    "--next",
    "upcoming",
    default=3,
    show_default=True,
    type=click.IntRange(0, 20),
    help="How many next hand-offs to list.",
)
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Ask this running relay (it counts overrides made through its API) instead of the config file.",
)
@token_option
def oncall(
    config_path: str | None,
    schedule: str | None,
    at_text: str | None,
    upcoming: int,
    url: str | None,
    token: str | None,
) -> None:
    """Print who is on call in each schedule, since and until when, and the next hand-offs."""
    from relay.pipeline.oncall import UnknownSchedule, oncall_view

    if url is not None:
        view = _oncall_from(url, token, schedule, at_text, upcoming)
    else:
        config, _ = load(config_path)
        if not config.schedules:
            click.echo("no schedules in the config (see docs/oncall.md)", err=True)
            raise SystemExit(1)
        zone = ZoneInfo(config.global_.timezone)
        now = _parse_at(at_text, zone) if at_text is not None else datetime.now(UTC).timestamp()
        try:
            view = oncall_view(config, now, schedule=schedule, upcoming=upcoming)
        except UnknownSchedule as exc:
            raise click.BadParameter(str(exc), param_hint="--schedule") from None
    for found in view["schedules"]:
        current = found["now"]
        line = f"{found['name']} ({found['time_zone']}): "
        line += _who(current) + _span(current) if current else "nobody on call (none within 90 days)"
        click.echo(line)
        for shift in found["next"]:
            click.echo(f"  next: {_who(shift)}{_span(shift)}")


def _oncall_from(
    url: str, token: str | None, schedule: str | None, at_text: str | None, upcoming: int
) -> dict[str, Any]:
    """GET /api/v1/oncall of a running relay."""
    base, _ = relay_urls(url)
    params: dict[str, str | int] = {"next": upcoming}
    if schedule is not None:
        params["schedule"] = schedule
    if at_text is not None:
        params["at"] = at_text
    response = request("GET", f"{base}/api/v1/oncall", token, params=params)
    if response.status_code != 200:
        fail(response)
    answer: dict[str, Any] = response.json()
    return answer


def _who(shift: dict[str, Any]) -> str:
    if shift["person"] is None:
        return "nobody on call"
    name = shift["display_name"]
    who = name if name == shift["person"] else f"{name} ({shift['person']})"
    return f"{who}, {shift['source']}" if shift["source"] else who


def _span(shift: dict[str, Any]) -> str:
    start = shift["start_local"][:16].replace("T", " ") if shift["start_local"] else ""
    end = shift["end_local"][:16].replace("T", " ") if shift["end_local"] else ""
    if shift["person"] is None:
        return f" until {end}" if end else " (none within 90 days)"
    return f", {start or 'since more than 90 days'} to {end or 'beyond 90 days'}"


@main.command("test-alert")
@url_option
@token_option
@click.option("--severity", default="warning", show_default=True)
@click.option("--resolved", is_flag=True, help="Send the alert as resolved.")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Extra label (repeatable).")
@click.option(
    "--receiver",
    default=None,
    help="Send straight through this receiver's integrations with the real config.",
)
@config_option
def test_alert(
    url: str | None,
    token: str | None,
    severity: str,
    resolved: bool,
    labels: tuple[str, ...],
    receiver: str | None,
    config_path: str | None,
) -> None:
    """Post a synthetic alert to a running relay, or (--receiver) straight to its channels.

    An alert posted to relay carries a unique test_id label, so it is a new alert, never a
    duplicate of the last one. When relay sends nothing, its reasons are printed.
    """
    if receiver is not None:
        from relay.pipeline.preview import send_direct

        config, _ = load(config_path)
        payload = synthetic_webhook(severity, resolved, _parse_labels(labels))
        sys.exit(asyncio.run(send_direct(config, receiver, payload, click.echo)))
    _, target = relay_urls(url)
    zone = display_zone(config_path)
    payload = synthetic_webhook(severity, resolved, {"test_id": new_test_id(), **_parse_labels(labels)})
    response = request("POST", target, token, json=payload)
    click.echo(f"posted to {shown(target)}")
    if response.status_code != 200:
        fail(response)
    answer = response.json()
    notified = int(answer.get("notifications", 0))
    click.echo(
        f"{answer.get('status', 'accepted')}: {count(int(answer.get('alerts', 0)), 'alert')}, "
        f"{count(notified, 'notification')}"
    )
    # Times in relay's global.timezone (the answer names it), else --config's.
    if answer.get("timezone"):
        zone = ZoneInfo(str(answer["timezone"]))
    for item in answer.get("grouped") or []:
        at = item.get("flush_at")
        click.echo(
            f"  {item['receiver']}: waiting in group {item['group_key']}"
            + (f" until {when(float(at), zone)} (group_wait), then notified" if at is not None else "")
        )
    if notified:
        return
    suppressed = answer.get("suppressed") or []
    for item in suppressed:
        click.echo(f"  {item.get('integration') or item.get('receiver')}: {_suppressed_words(item, zone)}")
    if not suppressed and not answer.get("grouped"):
        click.echo("  nothing suppressed: the receiver has no integrations, so it sends nothing")


def _suppressed_words(item: dict[str, Any], zone: tzinfo | None) -> str:
    """Why an integration sent nothing, with when it last did (and, held, until when)."""
    last, until = item.get("last_sent"), item.get("until")
    sent = f"last sent {when(float(last), zone)}" if last is not None else "never sent before"
    if item["reason"] == "held":
        ends = f" until {when(float(until), zone)}" if until is not None else ""
        return f"held{ends} (hold_time_intervals), then sent in the window's digest; {sent}"
    return f"{item['reason']} ({sent})"


@main.command()
@click.option("--channel", required=True, type=click.Choice(list(CHANNELS_BY_KIND)))
@click.option(
    "--receiver",
    default=None,
    metavar="NAME|ID",
    help="Use this receiver's first integration of the channel, or the integration "
    "with this id (team/wecom/1). Default: the channel's defaults.",
)
@click.option(
    "--payload",
    "payload_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="An Alertmanager webhook JSON file (default: a built-in sample).",
)
@click.option(
    "--locale",
    type=click.Choice(["en", "zh-CN"]),
    default=None,
    help="Overrides the integration's locale and global.locale.",
)
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="TIME",
    help="Render as of this time (RFC 3339, e.g. 2026-11-25T10:00:00Z): the sample's "
    "alerts start relative to it, 'firing for' counts up to it. Default: now.",
)
@click.option(
    "--digest",
    type=click.Choice(DIGEST_KINDS),
    default=None,
    help="Print the digest a storm (or a hold window's end) would send instead: "
    "the payload's group as --groups groups, one in three resolved.",
)
@click.option(
    "--groups",
    type=click.IntRange(1, 10_000),
    default=5,
    show_default=True,
    help="How many groups the --digest preview merges.",
)
@config_option
def render(
    channel: str,
    receiver: str | None,
    payload_path: str | None,
    locale: str | None,
    at_text: str | None,
    digest: DigestKind | None,
    groups: int,
    config_path: str | None,
) -> None:
    """Print what would be sent for a webhook, without sending it.

    Bodies go to stdout (JSON for Slack, WeCom and webhooks; headers and parts for email),
    notes to stderr. Exits 1 when a template is broken, printing its file and line.
    With --digest, the digest message instead, every part with its size.
    """
    from relay.pipeline.preview import PayloadError, load_payload, render_preview

    at = parse_time(at_text, "--at") if at_text is not None else None
    config, _ = load(config_path)
    payload = None
    if payload_path is not None:
        try:
            payload = load_payload(payload_path)
        except PayloadError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            sys.exit(1)
    sys.exit(
        asyncio.run(
            render_preview(
                config, channel, receiver, payload, click.echo, locale, at, digest=digest, groups=groups
            )
        )
    )


def parse_time(text: str, option: str) -> float:
    try:
        return parse_rfc3339(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
