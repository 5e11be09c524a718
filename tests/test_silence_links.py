"""Silence links: the exact URL Alertmanager's UI parses, and where every built-in
template shows it (docs/templates.md, "Silence links")."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.channels import TEMPLATE_CATALOGUE, TEMPLATE_NAMES
from relay.config import parse_config
from relay.core.alerts import Notification, group_silence_labels
from relay.core.clock import FakeClock
from relay.core.silence_links import silence_filter, silence_url
from relay.core.text import LOCALES
from relay.templating.engine import Renderer
from relay.templating.sample import sample_notification

NOW = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
AM = "http://am.example:9093/"
TRICKY = {"alertname": 'Disk "Full"', "path": "C:\\temp", "team": "数据库"}
# Written out by hand from the rules of Alertmanager's UI (ui/app/src/Utils/Filter.elm):
# {alertname="Disk \"Full\"", path="C:\\temp", team="数据库"}, percent-encoded as UTF-8.
TRICKY_URL = (
    "http://am.example:9093/#/silences/new?filter="
    "%7Balertname%3D%22Disk%20%5C%22Full%5C%22%22%2C%20path%3D%22C%3A%5C%5Ctemp%22"
    "%2C%20team%3D%22%E6%95%B0%E6%8D%AE%E5%BA%93%22%7D"
)

# Where the group's link and the per-alert links appear, per built-in template.
GROUP_LINK = {
    "email.txt",
    "email.html",
    "log.txt",
    "wecom.markdown",
    "wecom.text",
    "wecom_app.markdown",
    "wecom_app.text",
    "slack.footer",
    "dingtalk.markdown",
    "telegram.html",
}
ALERT_LINKS = {
    "email.txt",
    "email.html",
    "slack.alert",
    "wecom.markdown",
    "wecom_app.markdown",
    "dingtalk.markdown",
    "telegram.html",
}


def test_exact_url_with_quotes_backslashes_and_unicode() -> None:
    assert silence_url(TRICKY, AM) == TRICKY_URL
    assert silence_filter(TRICKY) == '{alertname="Disk \\"Full\\"", path="C:\\\\temp", team="数据库"}'


def test_no_url_without_external_url_or_labels() -> None:
    assert silence_url(TRICKY, "") == ""
    assert silence_url({}, AM) == ""


def test_control_characters_are_json_escaped() -> None:
    assert silence_filter({"alertname": "a\nb\tc"}) == '{alertname="a\\nb\\tc"}'


# A parser of the filter as Alertmanager's UI reads it: {name<op>"json string", ...}.
_ITEM = re.compile(r'\s*([^\s{}!=~,\\"\'`]+)=("(?:[^"\\]|\\.)*")\s*(,|$)', re.S)


def parse_filter(text: str) -> dict[str, str]:
    assert text.startswith("{") and text.endswith("}")
    inner, labels, pos = text[1:-1], {}, 0
    while pos < len(inner):
        match = _ITEM.match(inner, pos)
        assert match, inner[pos:]
        labels[match.group(1)] = json.loads(match.group(2))
        pos = match.end()
    return labels


label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)
label_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(st.dictionaries(label_names, label_values, min_size=1, max_size=6))
def test_any_labels_round_trip_through_the_link(labels: dict[str, str]) -> None:
    url = silence_url(labels, AM)
    prefix = "http://am.example:9093/#/silences/new?filter="
    assert url.startswith(prefix)
    encoded = url.removeprefix(prefix)
    assert re.fullmatch(r"[A-Za-z0-9_.~%-]*", encoded)  # nothing left to break a URL
    assert parse_filter(unquote(encoded)) == labels


def test_group_labels_else_common_labels() -> None:
    n = sample_notification(now=NOW)
    assert group_silence_labels(n) == n.group_labels == {"team": "infra"}
    n.group_labels = {}
    assert group_silence_labels(n) == n.common_labels


def make_renderer() -> Renderer:
    config = parse_config("route: {receiver: default}\nreceivers: [{name: default, log_configs: [{}]}]\n")
    return Renderer(config, TEMPLATE_CATALOGUE, clock=FakeClock(NOW.timestamp()))


def tricky_notification(external_url: str = AM, status: str = "firing") -> Notification:
    n = sample_notification(now=NOW)
    n.group_labels = dict(TRICKY)
    n.external_url = external_url
    if status == "resolved":
        n.alerts = [a.model_copy(update={"status": "resolved", "endsAt": NOW}) for a in n.alerts]
        n.status = "resolved"
    return n


def render_all(n: Notification, locale: str) -> dict[str, str]:
    renderer = make_renderer()
    return {
        name: renderer.render(
            name,
            n,
            locale=locale,
            **({"alert": n.firing[0] if n.firing else n.alerts[0]} if name == "slack.alert" else {}),
        )
        for name in TEMPLATE_NAMES
    }


@pytest.mark.parametrize("locale", LOCALES)
def test_every_builtin_shows_the_group_link_where_it_fits(locale: str) -> None:
    n = tricky_notification()
    assert n.silence_url == TRICKY_URL
    for name, text in render_all(n, locale).items():
        assert (TRICKY_URL in text) == (name in GROUP_LINK), name


@pytest.mark.parametrize("locale", LOCALES)
def test_every_builtin_links_each_firing_alert_where_it_fits(locale: str) -> None:
    n = tricky_notification()
    texts = render_all(n, locale)
    for name in ALERT_LINKS:
        alerts = [n.firing[0]] if name == "slack.alert" else n.firing
        for a in alerts:
            assert silence_url(a.labels, AM) in texts[name], name
        for a in n.resolved:  # nothing to silence once resolved
            assert silence_url(a.labels, AM) not in texts[name], name


@pytest.mark.parametrize("locale", LOCALES)
def test_no_link_without_external_url(locale: str) -> None:
    for name, text in render_all(tricky_notification(external_url=""), locale).items():
        assert "silences/new" not in text, name


@pytest.mark.parametrize("locale", LOCALES)
def test_no_group_link_once_resolved(locale: str) -> None:
    for name, text in render_all(tricky_notification(status="resolved"), locale).items():
        assert "silences/new" not in text, name


def test_template_helper_forms() -> None:
    n = tricky_notification()
    renderer = make_renderer()
    source = (
        "{{ silence_url() }}|{{ silence_url(alerts[0]) }}|{{ silence_url({'job': 'x'}) }}|"
        "{{ silence_url({'job': 'x'}, 'http://other:9093') }}|{{ n.silence_url }}"
    )
    text = renderer.render_string(source, n, locale="en", fallback="log.txt")
    group, one, labels, other, prop = text.split("|")
    assert group == prop == TRICKY_URL
    assert one == silence_url(n.alerts[0].labels, AM)
    assert labels == "http://am.example:9093/#/silences/new?filter=%7Bjob%3D%22x%22%7D"
    assert other == "http://other:9093/#/silences/new?filter=%7Bjob%3D%22x%22%7D"


def test_silence_url_of_something_else_is_a_template_error() -> None:
    # The template fails and the built-in of its name is used instead.
    n = tricky_notification()
    renderer = make_renderer()
    text = renderer.render_string("{{ silence_url(42) }}", n, locale="en", fallback="log.txt")
    assert text == renderer.render("log.txt", n, locale="en")
