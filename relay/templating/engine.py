"""Sandboxed Jinja2 rendering of notifications: built-in templates per channel and locale,
user overrides, filters, and a fallback that always returns text.

Templates are looked up as ``<locale>/<name>.j2``: first among the user's ``templates:``
files (``<locale>/<name>.j2``, then ``<name>.j2``), then among the built-ins. A user
template that fails falls back to the built-in of that name; the failure is logged with
file and line and counted in ``relay_template_errors_total{template}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from jinja2 import Template, TemplateNotFound, TemplateSyntaxError, pass_context
from jinja2.runtime import Context, Undefined

from relay.core.actions import ACKNOWLEDGE, LinkMaker
from relay.core.alerts import Alert, Notification
from relay.core.clock import Clock, SystemClock
from relay.core.digests import Digest, DigestEntry
from relay.core.durations import format_duration
from relay.core.text import (
    LOCALES,
    as_datetime,
    delivery_log_url,
    escalation_text,
    format_datetime,
    group_page_url,
    http_url,
    humanize_duration,
    labels_text,
    markdown_escape,
    normalize_locale,
    plural,
    severity_icon,
    silence_url_helper,
    slack_escape,
    truncate_bytes,
)
from relay.obs.metrics import Metrics
from relay.templating.fallback import digest_last_resort, last_resort
from relay.templating.sandbox import (
    BUILTIN,
    Loader,
    Sandbox,
    autoescape,
    describe,
    load_user_templates,
    render_bounded,
)

logger = logging.getLogger("relay.templating")

#: A digest of at most this many groups quotes up to SUMMARIES_QUOTED alerts per group;
#: a bigger one quotes one, so a storm of hundreds of groups stays a few messages.
QUOTE_ALL_UP_TO = 30
SUMMARIES_QUOTED = 3


class GlobalSettings(Protocol):
    @property
    def timezone(self) -> str: ...
    @property
    def external_url(self) -> str: ...


class RenderSettings(Protocol):
    """What rendering reads of the config (relay.config.Config has it): the zone and
    relay's URL for messages, and the user's template files."""

    @property
    def global_(self) -> GlobalSettings: ...
    @property
    def templates(self) -> list[str]: ...


@dataclass(frozen=True)
class TemplateCatalogue:
    """The built-in templates and filters, handed in by whoever knows the channels
    (relay.channels.template_catalogue): templating itself names no channel."""

    all: tuple[str, ...]
    single_line: frozenset[str]  # mail headers, Slack header blocks: newlines break them
    per_alert: frozenset[str]  # rendered once per alert, with ``alert`` in the context
    filters: Mapping[str, Callable[[Any], str]]


class Renderer:
    """Renders notifications; never raises for a broken user template at delivery time."""

    def __init__(
        self,
        config: RenderSettings,
        catalogue: TemplateCatalogue,
        metrics: Metrics | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._names = catalogue
        self._timezone = config.global_.timezone
        self._relay_url = config.global_.external_url.rstrip("/")
        # Action links (Acknowledge, Silence 1h...): set by the running service, which
        # holds the key; previews and checks have none.
        self.links: LinkMaker | None = None
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._user, self._load_problems = load_user_templates(config.templates)
        self._strings: dict[str, Template | Exception] = {}
        self._env = Sandbox(
            loader=Loader(self._user),
            autoescape=autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
        )
        # Readable JSON for non-ASCII text (tojson still escapes <, >, & and ').
        self._env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
        self._env.filters.update(
            datetime=self._datetime_filter,
            since=self._since_filter,
            duration=self._duration_filter,
            severity_icon=severity_icon,
            plural=plural,
            truncate_bytes=lambda value, limit, end="…": truncate_bytes(str(value), limit, end),
            slack_escape=slack_escape,
            markdown_escape=markdown_escape,
            http_url=http_url,
        )
        self._env.filters.update(catalogue.filters)

    # -- filters that need the context (zone, locale) or the clock

    def now(self) -> datetime:
        """The renderer's clock (pinned by `relay render --at`), for times in messages."""
        return datetime.fromtimestamp(self._clock.now(), UTC)

    @pass_context
    def _datetime_filter(
        self, ctx: Context, value: Any, fmt: str = "%Y-%m-%d %H:%M:%S %Z", tz: str | None = None
    ) -> str:
        return format_datetime(as_datetime(value), tz or ctx.get("timezone"), fmt=fmt)

    @pass_context
    def _since_filter(self, ctx: Context, value: Any) -> str:
        when = as_datetime(value)
        if when is None:
            return ""
        return humanize_duration((self.now() - when).total_seconds(), ctx.get("locale", "en"))

    @pass_context
    def _duration_filter(self, ctx: Context, value: Any, end: Any = None) -> str:
        locale = ctx.get("locale", "en")
        if isinstance(value, bool) or value is None or isinstance(value, Undefined):
            return ""
        if isinstance(value, int | float):
            return humanize_duration(value, locale)
        if isinstance(value, timedelta):
            return humanize_duration(value.total_seconds(), locale)
        if isinstance(value, Alert):
            value, end = value.startsAt, value.endsAt
        elif isinstance(value, Mapping) and "startsAt" in value:
            value, end = value.get("startsAt"), value.get("endsAt")
        start = as_datetime(value)
        if start is None:
            return ""
        stop = as_datetime(end) or self.now()
        return humanize_duration((stop - start).total_seconds(), locale)

    # -- rendering

    @property
    def relay_url(self) -> str:
        """``global.external_url`` without a trailing slash ('' when unset): where
        callbacks to relay (a call's status, its key press) point."""
        return self._relay_url

    def group_url(self, notification: Notification) -> str:
        """The group's page in relay's console, where every alert of it is listed ('' when
        ``global.external_url`` is not set): where a message capped at ``max_parts``
        sends the reader for the alerts it does not show."""
        return group_page_url(self._relay_url, notification.group_key)

    def action_links(self, notification: Notification, locale: str) -> list[dict[str, Any]]:
        """The message's action links: ``action`` (ack, silence), ``seconds``, ``label``
        in ``locale`` and ``url``; none for a message with nothing firing, or without
        ``global.external_url``."""
        if self.links is None or not notification.firing:
            return []
        chinese = normalize_locale(locale) == "zh-CN"
        found = []
        for action, seconds, url in self.links.links(notification.job_id):
            if action != ACKNOWLEDGE and notification.from_grafana:
                continue  # relay's silences go to Alertmanager, which never sees Grafana's alerts
            if action == ACKNOWLEDGE:
                label = "确认" if chinese else "Acknowledge"
            else:
                label = f"{'静默' if chinese else 'Silence'} {format_duration(seconds)}"
            found.append(
                {
                    "action": "ack" if action == ACKNOWLEDGE else "silence",
                    "seconds": seconds,
                    "label": label,
                    "url": url,
                }
            )
        return found

    def action_tokens(self, notification: Notification) -> list[tuple[str, int, str]]:
        """(action, silence seconds, token) for a chat's own buttons (Telegram's
        callback data); none for a message with nothing firing."""
        if self.links is None or not notification.firing:
            return []
        return self.links.tokens(notification.job_id)

    def context(self, notification: Notification, *, locale: str, **extra: Any) -> dict[str, Any]:
        """The variables every template sees (see docs/templates.md)."""
        n = notification
        return {
            "notification": n,
            "n": n,
            "status": n.status,
            "receiver": n.receiver,
            "group_key": n.group_key,
            "alerts": n.alerts,
            "firing": n.firing,
            "resolved": n.resolved,
            "severities": n.severities,
            "group_labels": n.group_labels,
            "common_labels": n.common_labels,
            "common_annotations": n.common_annotations,
            "external_url": n.external_url,
            "truncated_alerts": n.truncated_alerts,
            "reason": n.reason,
            # An escalation step: which, and whom it pages (by display name).
            "escalation": n.escalation,
            "escalation_text": escalation_text(n.escalation, locale),
            # Acknowledge / Silence links to relay's action pages (relay.core.actions).
            "actions": self.action_links(n, locale),
            "timezone": self._timezone,
            "relay_url": self._relay_url,
            "delivery_log_url": delivery_log_url(self._relay_url, n.receiver),
            "group_url": self.group_url(n),
            "locale": normalize_locale(locale),
            "silence_url": silence_url_helper(n),
            "labels_text": labels_text,
            **extra,
        }

    def render(self, name: str, notification: Notification, *, locale: str, **extra: Any) -> str:
        """Template ``name`` (a logical name like 'email.subject'); always returns text.

        A digest template (``<kind>.digest``) renders the digest of this one notification.
        """
        if is_digest_template(name):
            return self.render_digest(
                name, Digest.of_notification(notification, self._clock.now()), locale=locale
            )
        locale = normalize_locale(locale)
        ctx = self.context(notification, locale=locale, **extra)
        # A part of a split message: its alerts, and its "N more"; a per-alert template: the
        # alert. Its fallback still names them.
        part = extra.get("alerts") or ([extra["alert"]] if extra.get("alert") is not None else None)
        return self._render_named(
            name,
            locale,
            ctx,
            lambda: last_resort(
                notification,
                locale,
                part,
                int(extra.get("truncated_alerts") or 0),
                self.group_url(notification),
            ),
        )

    def digest_context(
        self,
        digest: Digest,
        *,
        locale: str,
        entries: Sequence[DigestEntry] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The variables a digest template sees (see docs/templates.md)."""
        window = digest.window
        return {
            "digest": digest,
            "kind": digest.kind,
            "entries": list(digest.entries if entries is None else entries),
            "groups": digest.groups,
            "firing": digest.firing,
            "resolved": digest.resolved,
            "alerts_total": digest.alerts,
            "created": datetime.fromtimestamp(digest.created_at, UTC),
            "window_start": datetime.fromtimestamp(window[0], UTC) if window else None,
            "window_end": datetime.fromtimestamp(window[1], UTC) if window else None,
            "receiver": digest.receiver,
            "external_url": digest.external_url,
            "timezone": self._timezone,
            "relay_url": self._relay_url,
            "delivery_log_url": delivery_log_url(self._relay_url, digest.receiver),
            "locale": normalize_locale(locale),
            "labels_text": labels_text,
            # A big digest quotes one summary per group, so it stays a few messages.
            "quoted": SUMMARIES_QUOTED if digest.groups <= QUOTE_ALL_UP_TO else 1,
            **extra,
        }

    def render_digest(
        self,
        name: str,
        digest: Digest,
        *,
        locale: str,
        entries: Sequence[DigestEntry] | None = None,
        **extra: Any,
    ) -> str:
        """Digest template ``name`` ('wecom.digest') for ``entries`` (default: all) of
        ``digest``; a failing user template falls back to the built-in, that to a line
        of totals. Always returns text."""
        locale = normalize_locale(locale)
        ctx = self.digest_context(digest, locale=locale, entries=entries, **extra)
        return self._render_named(
            name, locale, ctx, lambda: digest_last_resort(digest, ctx["entries"], locale)
        )

    def render_string(
        self,
        source: str,
        notification: Notification,
        *,
        locale: str,
        fallback: str,
        **extra: Any,
    ) -> str:
        """A template string from config; on error the template named ``fallback`` is used."""
        ctx = self.context(notification, locale=locale, **extra)
        try:
            return self._finish(fallback, render_bounded(self._compile_string(source, fallback), ctx))
        except Exception as exc:
            self._failed(fallback, exc)
        return self.render(fallback, notification, locale=locale, **extra)

    def render_text(self, channel: str, notification: Notification, *, locale: str = "en") -> str:
        """The plain-text template of ``channel`` (``<channel>.txt``)."""
        return self.render(f"{channel}.txt", notification, locale=locale)

    def check_string(self, source: str) -> str | None:
        """Why a template string from config does not compile ('line N: ...'), or None."""
        try:
            self._env.parse(source)
        except TemplateSyntaxError as exc:
            return f"line {exc.lineno}: {exc.message}"
        return None

    def check(self) -> list[str]:
        """Problems with the user's templates as 'file:line: message' (empty when fine).

        Each file is compiled, and each override of a built-in name is rendered with the
        sample notification in every locale it applies to.
        """
        from relay.templating.sample import sample_notification

        problems = dict.fromkeys(self._load_problems)
        sample = sample_notification()
        for key in self._user:
            try:
                template = self._env.get_template(key)
            except Exception as exc:
                problems[describe(exc)] = None
                continue
            locale, _, base = key.rpartition("/")
            name = base.removesuffix(".j2")
            if name not in self._names.all:
                continue  # a macro or include file: compiled above, used by the others
            extra = {"alert": sample.alerts[0]} if name in self._names.per_alert else {}
            for loc in [locale] if locale else LOCALES:
                try:
                    if is_digest_template(name):
                        digest = Digest.of_notification(sample, self._clock.now())
                        render_bounded(template, self.digest_context(digest, locale=loc))
                        continue
                    render_bounded(template, self.context(sample, locale=loc, **extra))
                except Exception as exc:
                    problems[f"{describe(exc)} (rendering the sample notification)"] = None
        return list(problems)

    # -- internals

    def _user_key(self, name: str, locale: str) -> str | None:
        for key in (f"{locale}/{name}.j2", f"{name}.j2"):
            if key in self._user:
                return key
        return None

    def _compile_string(self, source: str, fallback: str) -> Template:
        compiled = self._strings.get(source)
        if compiled is None:
            try:
                code = self._env.compile(source, name=None, filename=f"<{fallback} from config>")
                compiled = self._env.template_class.from_code(
                    self._env, code, self._env.make_globals(None), None
                )
            except Exception as exc:
                compiled = exc
            if len(self._strings) < 256:
                self._strings[source] = compiled
        if isinstance(compiled, Exception):
            raise compiled
        return compiled

    def _render_named(
        self, name: str, locale: str, ctx: dict[str, Any], last_resort: Callable[[], str]
    ) -> str:
        """The user's template ``name`` for ``locale`` when there is one and it renders,
        else the built-in."""
        user = self._user_key(name, locale)
        if user is not None:
            try:
                return self._finish(name, render_bounded(self._env.get_template(user), ctx))
            except Exception as exc:
                self._failed(name, exc)
        return self._render_builtin(name, locale, ctx, last_resort)

    def _render_builtin(
        self, name: str, locale: str, ctx: dict[str, Any], last_resort: Callable[[], str]
    ) -> str:
        """Built-in template ``name`` in ``locale`` (else English); ``last_resort()`` when
        even that fails: a message must still go out."""
        if name not in self._names.all:
            raise ValueError(f"unknown template {name!r} (known: {', '.join(self._names.all)})")
        try:
            try:
                template = self._env.get_template(f"{BUILTIN}{locale}/{name}.j2")
            except TemplateNotFound:
                template = self._env.get_template(f"{BUILTIN}en/{name}.j2")
            return self._finish(name, render_bounded(template, ctx))
        except Exception as exc:
            self._failed(name, exc)
            return last_resort()

    def _finish(self, name: str, text: str) -> str:
        if name in self._names.single_line:
            return " ".join(text.split())
        return text.strip()

    def _failed(self, name: str, exc: BaseException) -> None:
        if self._metrics is not None:
            self._metrics.template_errors.labels(template=name).inc()
        logger.error("template %s failed, using the built-in: %s", name, describe(exc))


def is_digest_template(name: str) -> bool:
    """``<kind>.digest`` templates render a Digest, not a notification."""
    return name.endswith(".digest")
