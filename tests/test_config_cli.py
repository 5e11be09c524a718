"""`relay check-config`: warnings are printed and leave the exit code 0; errors exit 1,
with the warnings found in the same run."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner, Result

from relay.cli.commands import main

WARNED = """
route:
  receiver: team
receivers:
  - name: team
    slack_configs:
      - {api_url: 'https://hooks.slack.com/services/T0/B0/x', channel: '#alerts'}
"""
CHANNEL_WARNING = (
    "warning: receivers[0].slack_configs[0].channel: ignored with an incoming webhook (api_url), "
    "which always posts to the channel it was created for; remove it, or use token and channel (bot)"
)


def check(tmp_path: Path, text: str) -> Result:
    path = tmp_path / "relay.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return CliRunner().invoke(main, ["check-config", "--config", str(path)], catch_exceptions=False)


def test_warnings_only_are_printed_and_exit_0(tmp_path: Path) -> None:
    result = check(tmp_path, WARNED)
    assert result.exit_code == 0, result.output
    assert CHANNEL_WARNING in result.output.splitlines()
    assert "is valid" in result.output


def test_errors_exit_1_and_are_printed_with_the_warnings(tmp_path: Path) -> None:
    result = check(
        tmp_path,
        WARNED.replace("receiver: team", "receiver: ghost")
        + """
  - name: cn
    wecom_config: [{key: abc}]
    wecom_configs: [{webhook_url: 'qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc'}]
""",
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"config {tmp_path / 'relay.yml'} is invalid:"
    assert "  receivers[1].wecom_config: unknown key; did you mean wecom_configs?" in lines
    assert any(
        line.startswith("  receivers[1].wecom_configs[0].webhook_url: must be a full URL") for line in lines
    )
    assert "  route.receiver: unknown receiver 'ghost' (known: cn, team)" in lines
    assert CHANNEL_WARNING in lines
    assert "is valid" not in result.output
    assert "Traceback" not in result.output
