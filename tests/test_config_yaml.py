"""The config's YAML reader: a key given twice anywhere is an error naming both lines, and
every document without one reads exactly as ``yaml.safe_load`` reads it."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.config import parse_config
from relay.config.reader import DuplicateKeyError, load_yaml
from relay.core.errors import ConfigError

keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.text(alphabet="xyz 告警", max_size=5))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.dictionaries(keys, inner, max_size=4), st.lists(inner, max_size=3)),
    max_leaves=20,
).filter(lambda doc: isinstance(doc, dict))

SCALAR_ENTRY = re.compile(r"^(\s*(?:- )?)([a-j_]+): (?!$).*$")


@settings(max_examples=200, deadline=None)
@given(documents, st.data())
def test_a_key_given_twice_at_any_depth_names_both_lines(doc: dict[str, Any], data: st.DataObject) -> None:
    lines = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).splitlines()
    entries = [i for i, line in enumerate(lines) if SCALAR_ENTRY.match(line)]
    if not entries:
        return
    index = data.draw(st.sampled_from(entries))
    indent, key = SCALAR_ENTRY.match(lines[index]).groups()  # type: ignore[union-attr]
    # The copy sits right after the original, as a sibling (a "- " list marker becomes
    # plain indentation, so the copy belongs to the same mapping).
    copy = " " * len(indent) + lines[index][len(indent) :]
    text = "\n".join([*lines[: index + 1], copy, *lines[index + 1 :]]) + "\n"
    with pytest.raises(DuplicateKeyError) as info:
        load_yaml(text)
    assert info.value.key == key
    assert (info.value.first.line, info.value.second.line) == (index, index + 1)


@settings(max_examples=200, deadline=None)
@given(documents, st.booleans())
def test_without_duplicates_it_reads_as_safe_load(doc: dict[str, Any], flow: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    assert load_yaml(text) == yaml.safe_load(text) == doc


def test_a_key_overriding_a_merged_one_is_not_a_duplicate() -> None:
    text = textwrap.dedent("""
        base: &base {send_resolved: true, max_alerts: 5}
        hook:
          <<: *base
          max_alerts: 10
    """)
    assert load_yaml(text)["hook"] == {"send_resolved": True, "max_alerts": 10}
    with pytest.raises(DuplicateKeyError):
        load_yaml(text + "  max_alerts: 20\n")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\nroute:\n  receiver: b\n",
            "relay.yml:5:1: invalid YAML: duplicate key 'route' (first at line 1; "
            "YAML would keep only the last one, so merge the two)",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs: []\n"
            "    webhook_configs: [{url: 'http://x'}]\n",
            "relay.yml:6:5: invalid YAML: duplicate key 'webhook_configs' (first at line 5; "
            "YAML would keep only the last one, so merge the two)",
        ),
        (
            "route: {receiver: a, receiver: b}\n",
            "relay.yml:1:22: invalid YAML: duplicate key 'receiver' (first at line 1; "
            "YAML would keep only the last one, so merge the two)",
        ),
    ],
)
def test_check_config_reports_a_duplicate_key_as_one_line(text: str, line: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="relay.yml", env={})
    assert info.value.problems == [line]


def test_an_unquoted_time_is_explained_with_the_quoted_form() -> None:
    text = """
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: 22:00, end_time: "24:00"}]
route: {receiver: team}
receivers: [{name: team, log_configs: [{}]}]
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    [problem] = [p for p in caught.value.problems if "start_time" in p]
    assert 'quote it: "22:00"' in problem, problem
    assert "base-60" in problem


def test_another_string_read_as_a_number_says_to_quote_it() -> None:
    text = """
route: {receiver: team}
receivers: [{name: team, wecom_configs: [{key: 123456789012}]}]
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    assert any('quote the value to keep it as text: "123456789012"' in p for p in caught.value.problems), (
        caught.value.problems
    )
