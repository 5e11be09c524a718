"""Every shipped config is valid, exactly as `relay check-config` would judge it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted([ROOT / "config" / "relay.yml", *(ROOT / "config" / "examples").glob("*.yml")])


def test_there_is_an_example_per_channel() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"email", "slack", "wecom", "webhook", "redis-ha"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_is_valid(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("example-token\n")
    monkeypatch.setenv("RELAY_TOKEN_FILE", str(token))
    config = load_config(path)
    assert config.receivers
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
