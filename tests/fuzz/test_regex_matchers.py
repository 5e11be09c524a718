"""Matchers' regular expressions are RE2, anchored as Alertmanager anchors them.

A pattern that backtracks exponentially in Python's ``re`` is answered at once through
the webhook; RE2 agrees with ``re`` wherever both read a pattern the same way (random
patterns over a small alphabet); where Alertmanager and ``re`` differ (``$`` before a
trailing newline), relay does as Alertmanager; what RE2 lacks is named in the error.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.config import InvalidConfig, parse_config
from relay.core.clock import FakeClock
from relay.core.matchers import make_matcher, parse_matcher
from relay.web.service import create_app
from tests.helpers.webhooks import alert, webhook

EVIL = "([a-z]+-?)+-prod"


async def test_an_exponential_pattern_is_answered_at_once(tmp_path: Path) -> None:
    config = parse_config(
        f"""
storage: {{url: "sqlite:///{tmp_path}/r.db"}}
route:
  receiver: default
  routes:
    - matchers: ['service=~"{EVIL}"']
      receiver: prod
receivers:
  - name: default
    log_configs: [{{}}]
  - name: prod
    log_configs: [{{}}]
"""
    )
    app = create_app(config, clock=FakeClock(), background=False)
    state = app.state.relay
    async with state.running(background=False):  # noqa: SIM117 - the client needs the running app
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
            # Python's re needed 13.8 s for 26 letters, twice that for each one more.
            value = "a" * 60 + "-dev"
            body = webhook(alert(service=value), group_key="g")
            answer = await asyncio.wait_for(client.post("/api/v1/alerts/webhook", json=body), timeout=10)
            assert answer.status_code == 200
            jobs = await state.store.list_jobs(limit=10)
            assert [job.receiver for job in jobs] == ["default"]


def test_the_anchors_are_alertmanagers() -> None:
    matcher = make_matcher("service", "=~", "api")
    assert matcher.matches({"service": "api"})
    assert not matcher.matches({"service": "api\n"})  # Go's $ is the end; Python's re matched
    assert not matcher.matches({"service": "xapi"})
    assert make_matcher("service", "!~", "api|web").matches({"service": "db"})
    assert make_matcher("x", "=~", ".*").matches({})  # a missing label is ""
    assert make_matcher("x", "=~", "磁盘.+").matches({"x": "磁盘满"})


@pytest.mark.parametrize(
    ("pattern", "words"),
    [("(?=x)y", "no look-ahead"), ("(?<!x)y", "look-behind"), (r"(a)\1", "back-references")],
)
def test_what_re2_lacks_is_named(pattern: str, words: str) -> None:
    with pytest.raises(ValueError, match="RE2") as caught:
        parse_matcher(f'x=~"{pattern.replace(chr(92), chr(92) * 2)}"')
    assert words in str(caught.value)
    with pytest.raises(InvalidConfig) as refused:
        parse_config(
            "route: {receiver: a, routes: [{receiver: a, match_re: {x: '" + pattern + "'}}]}\n"
            "receivers: [{name: a}]\n"
        )
    assert "routes[0].match_re.x" in str(refused.value) and "RE2" in str(refused.value)


ATOMS = st.sampled_from(["a", "b", "-", ".", "[ab]", "[^a]", "a|b", "(a|-)", "\\d", "(x?)"])
QUANTIFIERS = st.sampled_from(["", "*", "+", "?", "{1,2}"])
patterns = st.lists(st.tuples(ATOMS, QUANTIFIERS).map("".join), min_size=1, max_size=5).map("".join)
values = st.text(st.sampled_from("ab-x1é"), max_size=12)


@settings(max_examples=400, deadline=None)
@given(pattern=patterns, value=values)
def test_re2_agrees_with_re_on_patterns_both_read_alike(pattern: str, value: str) -> None:
    python = re.fullmatch(f"(?:{pattern})", value) is not None
    assert make_matcher("x", "=~", pattern).matches({"x": value}) == python, (pattern, value)
