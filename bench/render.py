"""What rendering a message costs, in relay's sandbox against plain jinja.

    python -m bench.render [--renders 400] [--rounds 5] [--no-write]

Each channel's message template (the built-in, English and Chinese) is rendered for one
five-alert notification (bench.ingest's webhook) --renders times per run, through relay's
Renderer, with three environments in turn, alternating each round:

- plain jinja (``jinja2.Environment``, no sandbox): the floor;
- jinja's own sandbox path (relay's sandbox with jinja's ``getattr`` and
  ``is_safe_attribute``): what every attribute a template read cost before;
- relay's sandbox as shipped.

CPU time (``time.process_time``) per rendering, medians of the rounds. Results go to the
"Rendering" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bench.ingest import five_alert_webhook
from bench.results import write_section
from relay.channels import TEMPLATE_CATALOGUE
from relay.config import parse_config
from relay.core.alerts import Notification, WebhookPayload
from relay.core.clock import FakeClock
from relay.templating import engine
from relay.templating.engine import Renderer
from relay.templating.sample import notification_from_payload
from relay.templating.sandbox import Sandbox

SECTION = "## Rendering (`bench/render.py`)"
#: The template each channel's message is made of (a per-alert one gets the first alert).
TEMPLATES = (
    "log.txt",
    "wecom.markdown",
    "dingtalk.markdown",
    "feishu.alert",
    "slack.alert",
    "telegram.html",
    "email.html",
    "webhook.body",
)
PER_ALERT = ("feishu.alert", "slack.alert")


class JinjaSandboxPath(Sandbox):
    """relay's sandbox with jinja's own attribute path (before the fast path)."""

    is_safe_attribute = ImmutableSandboxedEnvironment.is_safe_attribute
    getattr = ImmutableSandboxedEnvironment.getattr


class PlainJinja(Environment):
    """No sandbox at all: what the template itself costs."""


TARGETS: dict[str, type[Environment]] = {
    "plain jinja (no sandbox)": PlainJinja,
    "jinja's sandbox path (before)": JinjaSandboxPath,
    "relay's sandbox": Sandbox,
}


def notification() -> Notification:
    return notification_from_payload(WebhookPayload.model_validate(five_alert_webhook()), "default")


def renderer(environment: type[Environment]) -> Renderer:
    config = parse_config(
        "global: {timezone: Asia/Shanghai, external_url: 'https://relay.example'}\n"
        "route: {receiver: default}\n"
        "receivers: [{name: default, log_configs: [{}]}]\n"
    )
    original = engine.Sandbox
    engine.Sandbox = environment  # type: ignore[misc,assignment]
    try:
        clock = FakeClock(datetime(2026, 11, 22, tzinfo=UTC).timestamp())
        return Renderer(config, TEMPLATE_CATALOGUE, clock=clock)
    finally:
        engine.Sandbox = original  # type: ignore[misc]


def per_render(render: Callable[[], str], renders: int) -> float:
    render()  # compiled and warm
    start = time.process_time()
    for _ in range(renders):
        render()
    return (time.process_time() - start) / renders * 1e6


def measure(renders: int, rounds: int) -> dict[tuple[str, str, str], list[float]]:
    n = notification()
    renderers = {label: renderer(env) for label, env in TARGETS.items()}
    runs: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(rounds):
        for name in TEMPLATES:
            extra: dict[str, Any] = {"alert": n.alerts[0]} if name in PER_ALERT else {}
            for locale in ("en", "zh-CN"):
                for label, r in renderers.items():

                    def render(
                        r: Renderer = r, name: str = name, locale: str = locale, extra: Any = extra
                    ) -> str:
                        return r.render(name, n, locale=locale, **extra)

                    runs.setdefault((name, locale, label), []).append(per_render(render, renders))
    return runs


def report(runs: dict[tuple[str, str, str], list[float]], renders: int, rounds: int) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    labels = list(TARGETS)
    lines = [
        SECTION,
        "",
        f"Command: `make bench` (runs `python -m bench.render --renders {renders} --rounds {rounds}`).",
        f"Measured {now} on {platform.machine()}, Python {platform.python_version()}.",
        "",
        "One five-alert notification (bench.ingest's webhook) rendered by each channel's"
        " message template, through relay's Renderer with three environments alternating"
        f" each round; CPU µs per rendering, median of {rounds} rounds of {renders}.",
        "",
        "| template | locale | " + " | ".join(labels) + " | relay / plain | relay / before |",
        "|---|---|" + "---:|" * (len(labels) + 2),
    ]
    for name in TEMPLATES:
        for locale in ("en", "zh-CN"):
            medians = [statistics.median(runs[(name, locale, label)]) for label in labels]
            plain, before, relay = medians
            cells = " | ".join(f"{m:.0f}" for m in medians)
            lines.append(f"| {name} | {locale} | {cells} | {relay / plain:.2f}x | {relay / before:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    text = report(measure(args.renders, args.rounds), args.renders, args.rounds)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
