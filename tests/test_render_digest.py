"""`relay render --digest`: the digest a storm or a hold window would send, for every
channel and locale, every group in it and every part within the vendor's limit, and a
broken user digest template named by file and line."""

from __future__ import annotations

import re

import pytest

from relay.channels import CHANNELS_BY_KIND
from tests.test_cli import minimal_config, run

AT = "2026-11-25T10:00:00Z"
GROUPS = 60
_NOTE = re.compile(
    r"^(\S+) digest: (\d+) (?:part|post)s?(?:, [a-zA-Z ]+ ([\d, ]+) \(limit (\d+)\))?$", re.MULTILINE
)


@pytest.mark.parametrize("kind", ["storm", "hold"])
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("channel", list(CHANNELS_BY_KIND))
def test_every_channel_previews_its_digest(tmp_path, channel: str, locale: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "render",
        "--channel",
        channel,
        "--digest",
        kind,
        "--groups",
        str(GROUPS),
        "--at",
        AT,
        "--config",
        minimal_config(tmp_path, locale),
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    note = _NOTE.search(result.stderr)
    assert note is not None, result.stderr
    assert note.group(1) == channel
    if note.group(4) is not None:  # a channel with a size limit: every part within it
        sizes = [int(size) for size in note.group(3).split(", ")]
        assert len(sizes) == int(note.group(2))
        assert max(sizes) <= int(note.group(4)), sizes
    if channel in ("tencent_voice", "tencent_sms", "aliyun_voice", "aliyun_sms", "twilio"):
        # A call or an SMS reads the counts: a template has a few short variables.
        assert f"{GROUPS}" in result.stdout and "****" in result.stdout
        for number in ("+8613800000001", "13800000001", "+14155550101"):
            assert number not in result.stdout, number
        return
    # Every group is in the digest, each once.
    for index in range(1, GROUPS + 1):
        assert len(re.findall(rf"node-{index}(?!\d)", result.stdout)) >= 1, index
    assert ("已恢复" in result.stdout) == (locale == "zh-CN")


def test_a_broken_digest_template_is_named_and_the_built_in_shown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "wecom.digest.j2").write_text("{{ digest.groups }}\n{{ entries | nope }}\n")
    config = minimal_config(tmp_path, templates=[f"{custom}/*.j2"])
    result = run("render", "--channel", "wecom", "--digest", "storm", "--config", config)
    assert result.exit_code == 1
    assert f"{custom}/wecom.digest.j2:2: TemplateAssertionError: No filter named 'nope'" in result.stderr
    assert "node-5" in result.stdout  # what would go out: the built-in digest
    assert "Traceback" not in result.output


def test_a_user_digest_template_is_what_the_preview_shows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "telegram.digest.j2").write_text(
        "STORM {{ digest.groups }} groups\n{% for e in entries %}{{ e.labels.instance }} {% endfor %}"
    )
    config = minimal_config(tmp_path, templates=[f"{custom}/*.j2"])
    result = run("render", "--channel", "telegram", "--digest", "storm", "--groups", "3", "--config", config)
    assert result.exit_code == 0, result.output
    assert "STORM 3 groups" in result.stdout
    assert "node-1 node-2 node-3" in result.stdout.replace("\\n", " ")
