"""Every word the console shows exists in both languages (relay/web/console/i18n.py)."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import get_args

import pytest

from relay.core.digests import DigestKind
from relay.web.console.i18n import CATALOGS, MESSAGES, pick_language, translate
from relay.web.console.pages_actions import MESSAGES as PLAYGROUND_MESSAGES
from relay.web.console.render import TEMPLATE_DIR

ROOT = Path(__file__).resolve().parents[2]
# t("key") / t('key') in templates and visit.t("key") / translate(lang, "key") in code;
# keys built at run time ("status." ~ name) are checked by their prefix below.
_LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_.0-9]+)["']""")
_PREFIX_KEY = re.compile(r"""\bt\(\s*["']([a-z_.0-9]+\.)["']\s*~""")


def _sources() -> list[Path]:
    return [*TEMPLATE_DIR.glob("*.j2"), *(ROOT / "relay" / "web" / "console").glob("*.py")]


def test_every_key_used_is_in_the_catalogue() -> None:
    used = {
        key
        for path in _sources()
        for key in _LITERAL_KEY.findall(path.read_text("utf-8"))
        if not key.endswith(".")
    }
    assert used, "no t(...) calls found: the pattern is out of date"
    assert sorted(used - MESSAGES.keys()) == []


def test_every_runtime_built_key_has_entries_for_its_values() -> None:
    prefixes = {p for path in _sources() for p in _PREFIX_KEY.findall(path.read_text("utf-8"))}
    assert {"status.", "health.", "outcome.", "alert.", "nav."} <= prefixes
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in MESSAGES), prefix
    for status in ("pending", "retrying", "running", "delivered", "dead"):
        assert f"status.{status}" in MESSAGES
    for outcome in ("delivered", "retry", "dead"):
        assert f"outcome.{outcome}" in MESSAGES
    for kind in get_args(DigestKind):
        assert f"digest.kind.{kind}" in MESSAGES
    for message in PLAYGROUND_MESSAGES:
        assert f"playground.message.{message}" in MESSAGES


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_fill_the_same_placeholders(key: str) -> None:
    english, chinese = MESSAGES[key]
    fields = [
        {name for _, name, _, _ in string.Formatter().parse(text) if name} for text in (english, chinese)
    ]
    assert fields[0] == fields[1], key
    assert english.strip() and chinese.strip()


def test_chinese_text_is_chinese() -> None:
    # Protect against a copy-paste of the English column: most entries carry CJK text.
    han = sum(1 for text in CATALOGS["zh-CN"].values() if re.search(r"[\u4e00-\u9fff]", text))
    assert han / len(MESSAGES) > 0.85


def test_the_language_comes_from_the_query_then_the_cookie_then_the_config() -> None:
    assert pick_language({"lang": "zh-CN"}, {"relay_lang": "en"}, "en") == "zh-CN"
    assert pick_language({}, {"relay_lang": "zh-CN"}, "en") == "zh-CN"
    assert pick_language({"lang": "fr"}, {"relay_lang": "xx"}, "zh-CN") == "zh-CN"
    assert pick_language({}, {}, "en") == "en"


def test_translate_fills_placeholders() -> None:
    assert translate("en", "notification.part", n=1, total=2) == "Part 1 of 2"
    assert translate("zh-CN", "notification.part", n=1, total=2) == "第 1/2 部分"
