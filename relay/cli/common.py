"""What every command shares: which config file it reads (and its warnings), and how
it shows times and counts."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from relay.config import DEFAULT_CONFIG_PATH, Config, load_config, load_packaged_default
from relay.core.errors import ConfigError
from relay.core.resources import PACKAGED_DEFAULT_SOURCE

logger = logging.getLogger("relay.cli")

config_option = click.option(
    "--config",
    "config_path",
    default=None,
    metavar="PATH",
    help="Config file (default: $RELAY_CONFIG, else ./config/relay.yml if it exists, else the"
    " default config shipped with relay).",
)


def config_path_default() -> str | None:
    """$RELAY_CONFIG, else config/relay.yml when it exists here; None means the default
    config shipped inside the package (what a plain `pip install` runs with)."""
    path = os.environ.get("RELAY_CONFIG")
    if path:
        return path
    return DEFAULT_CONFIG_PATH if Path(DEFAULT_CONFIG_PATH).is_file() else None


def load(config_path: str | None) -> tuple[Config, str | None]:
    """The config and its file; (the packaged default, None) when no file is given, set in
    $RELAY_CONFIG or found at config/relay.yml."""
    path = config_path or config_path_default()
    try:
        if path is None:
            # A log line (JSON under `serve --log-format json`), printed on stderr elsewhere.
            logger.warning(
                "no config file (--config, $RELAY_CONFIG or ./config/relay.yml): using"
                " the default config shipped with relay (`relay config example`"
                " prints a starting point)"
            )
            return load_packaged_default(), None
        config = load_config(path)
    except ConfigError as exc:
        click.echo(f"config {path or PACKAGED_DEFAULT_SOURCE} is invalid:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        warn(getattr(exc, "warnings", []))
        raise SystemExit(1) from None
    warn(config.warnings)
    return config, path


def warn(warnings: list[str]) -> None:
    """Config warnings: accepted, but likely not what was meant (every command, serve too)."""
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def display_zone(config_path: str | None) -> tzinfo | None:
    """global.timezone of --config, else of the default config file if it loads;
    None (local time) when there is none."""
    if config_path is not None:
        config, _ = load(config_path)
        return ZoneInfo(config.global_.timezone)
    path = config_path_default()
    if path is None:
        return None
    try:
        return ZoneInfo(load_config(path).global_.timezone)
    except ConfigError:
        return None


def when(seconds: float, zone: tzinfo | None) -> str:
    """``2026-11-22 14:25:51 +08:00``: in ``zone``, or in local time when None."""
    when = datetime.fromtimestamp(seconds, zone or UTC)
    if zone is None:
        when = when.astimezone()
    offset = when.strftime("%z")
    return f"{when:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:5]}"


def count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
