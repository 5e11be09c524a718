"""`relay check-config`: warnings are printed and leave the exit code 0; errors exit 1,
with the warnings found in the same run."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relay.cli.commands import main
from relay.store import open_store

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


# Every storage URL the store refuses to open: check-config must refuse it first, with
# the store's own words, and `relay serve` must stop there, without a traceback.
BAD_STORAGE_URLS = [
    ("sqlite:////srv/relay.db?synchronous=off", "synchronous must be full or normal, not 'off'"),
    ("sqlite:////srv/relay.db?synchronus=full", "unknown option 'synchronus'"),
    ("sqlite:////srv/relay.db?busy_timeout=soon", "busy_timeout must be seconds"),
    ("sqlite:////srv/relay.db?busy_timeout=-1", "busy_timeout must be seconds"),
    ("sqlite:///:memory:", "a database file path is required"),
    ("sqlite://host/relay.db", "unsupported scheme 'sqlite'"),
    ("redis://h:6379/0?prefx=a", "unknown option 'prefx'"),
    ("redis://h:port/0", "the port is not a number"),
]


@pytest.mark.parametrize(("url", "problem"), BAD_STORAGE_URLS)
def test_a_storage_url_the_store_refuses_is_refused_by_check_config(
    tmp_path: Path, url: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        open_store(url)
    config = STORE_CONFIG.format(url=url)
    result = check(tmp_path, config)
    assert result.exit_code == 1, result.output
    assert problem in result.output
    served = CliRunner().invoke(main, ["serve", "--config", str(tmp_path / "relay.yml")])
    assert served.exit_code == 1, served.output
    assert problem in served.output
    assert served.exception is None or isinstance(served.exception, SystemExit), served.exception


STORE_CONFIG = """
storage:
  url: "{url}"
route:
  receiver: team
receivers:
  - name: team
    log_configs: [{{}}]
"""
