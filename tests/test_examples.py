"""Every shipped config is valid, exactly as `relay check-config` judges it.

The examples read their secrets from files (``*_file: /run/secrets/...``), as an operator
would run them. The test creates each file they name, with a value of the right shape,
in a temporary directory and checks a copy of the example that points there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from relay.cli.commands import main
from relay.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted([ROOT / "config" / "relay.yml", *(ROOT / "config" / "examples").glob("*.yml")])

# Secret values whose shape a validator checks; anything else gets SECRET.
SECRET = "example-secret-value"
SHAPED = {
    "api_url_file": "https://hooks.slack.com/services/T000/B000/XXXX",
    # Not any one vendor's host: the same file stands for WeCom, Feishu and Teams URLs.
    "webhook_url_file": "https://robot-proxy.example.com/send?key=example",
    "url_file": "https://hooks.example.com/alerts",
    "key_file": "00000000-0000-0000-0000-000000000000",
    "token_file": "xoxb-example",
    "bot_token_file": "123456789:AAHexampleexampleexampleexampleexam",
}


def secret_files(node: Any) -> list[tuple[str, str]]:
    """(key, path) of every ``*_file`` key in a parsed config, in document order."""
    if isinstance(node, dict):
        found = [(k, v) for k, v in node.items() if k.endswith("_file") and isinstance(v, str)]
        return found + [pair for v in node.values() for pair in secret_files(v)]
    if isinstance(node, list):
        return [pair for v in node for pair in secret_files(v)]
    return []


def with_secret_files(path: Path, directory: Path) -> Path:
    """A copy of ``path`` whose secret files exist, under ``directory``."""
    text = path.read_text(encoding="utf-8")
    for key, name in secret_files(yaml.safe_load(text)):
        local = directory / name.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(SHAPED.get(key, SECRET) + "\n")
        text = text.replace(f": {name}", f": {local}")
    copy = directory / path.name
    copy.write_text(text, encoding="utf-8")
    return copy


def test_there_is_an_example_per_channel() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"email", "slack", "wecom", "webhook", "msteams", "telegram", "redis-ha"} <= names
    assert {"phone-aliyun", "phone-tencent", "phone-twilio"} <= names


def test_examples_keep_secrets_in_files() -> None:
    """Each example names at least one secret file, so the secret-file path is exercised."""
    examples = [p for p in CONFIGS if p.parent.name == "examples"]
    for path in examples:
        assert secret_files(yaml.safe_load(path.read_text(encoding="utf-8"))), path.name


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_is_valid(path: Path, tmp_path: Path) -> None:
    config_path = with_secret_files(path, tmp_path)
    config = load_config(config_path)
    assert config.receivers
    result = CliRunner().invoke(main, ["check-config", "--config", str(config_path)])
    assert result.exit_code == 0, result.output


def test_missing_secret_file_is_reported(tmp_path: Path) -> None:
    """Without its secret files, check-config names the file it could not read."""
    path = ROOT / "config" / "examples" / "webhook.yml"
    copy = tmp_path / path.name
    copy.write_text(path.read_text(encoding="utf-8").replace("/run/secrets/", f"{tmp_path}/absent/"))
    result = CliRunner().invoke(main, ["check-config", "--config", str(copy)])
    assert result.exit_code == 1
    assert f"{tmp_path}/absent/hook_token" in result.output
