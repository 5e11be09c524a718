"""A newcomer's first run: the default config without a checkout, a starting config, what
`GET /` and the logs show, warnings that matter."""

from __future__ import annotations

import io
import logging
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli.client import is_loopback as _is_loopback
from relay.cli.commands import main
from relay.obs.logs import JSONFormatter, TextFormatter
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[1]


def test_with_no_config_anywhere_relay_uses_the_packaged_default(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config/relay.yml here
    monkeypatch.delenv("RELAY_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 0, result.output
    assert "config <relay's packaged default config> is valid" in result.stdout
    assert "using the default config shipped with relay" in caplog.text


def test_config_example_prints_the_shipped_files() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["config", "example"]).stdout == (ROOT / "config/relay.yml").read_text()
    listed = runner.invoke(main, ["config", "example", "--list"]).stdout.split()
    assert listed == sorted(p.stem for p in (ROOT / "config/examples").glob("*.yml"))
    for name in listed:
        printed = runner.invoke(main, ["config", "example", "--channel", name]).stdout
        assert printed == (ROOT / f"config/examples/{name}.yml").read_text()
    unknown = runner.invoke(main, ["config", "example", "--channel", "pager"])
    assert unknown.exit_code == 2 and "no example 'pager' (there are: dingtalk, email" in unknown.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("relay.example.com", False),
    ],
)
def test_which_listen_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


async def test_get_root_sends_a_browser_to_the_console(relay_factory) -> None:  # type: ignore[no-untyped-def]
    async with relay_factory("route: {receiver: r}\nreceivers: [{name: r, log_configs: [{}]}]\n") as relay:
        answer = await relay.client.get("/")
        assert answer.status_code == 307 and answer.headers["location"] == "/ui/"
        console = await relay.client.get("/ui/")
        assert console.status_code == 200 and "text/html" in console.headers["content-type"]
        for link in ("/ui/notifications", "/ui/groups", "/ui/playground", "/ui/routes", "/ui/config"):
            assert f'href="{link}"' in console.text
            assert (await relay.client.get(link)).status_code == 200, link


@pytest.mark.parametrize("formatter", [TextFormatter("%(message)s"), JSONFormatter()])
def test_logs_carry_no_ansi_colour_codes(formatter: logging.Formatter) -> None:
    # uvicorn passes its message again with colours as extra "color_message".
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("test.colours")
    logger.addHandler(handler)
    try:
        logger.warning(
            "Started server process [%d]",
            1,
            extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
        )
    finally:
        logger.removeHandler(handler)
    assert "\x1b" not in stream.getvalue() and "\\u001b" not in stream.getvalue()
    assert "Started server process [1]" in stream.getvalue()


def test_gitignore_ignores_no_tracked_file() -> None:
    ignored = subprocess.run(
        ["git", "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert ignored == []


def test_the_default_config_parses_like_any_other() -> None:
    from relay.config import load_packaged_default

    assert load_packaged_default().digest == make_config((ROOT / "config/relay.yml").read_text()).digest
