"""DingTalk end to end: a real `relay serve` delivers to a fake DingTalk robot on loopback
that checks the signature, its age, the keyword, the size and the rate as DingTalk does;
`relay test-alert --receiver` and `relay render --channel dingtalk` work against it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from relay.cli.commands import main
from tests.helpers.dingtalk import FakeDingTalk
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.webhooks import alert, webhook

TOKEN = "e2eDingTalkToken-5f4e3d2c1b0a99887766"
SECRET = "SECe2eDingTalkSecret0123456789abcdef0123456789abcdef0123456789ab"
WRONG = "SECnotTheRobotsSecret0123456789abcdef0123456789abcdef0123456789"


def write_config(tmp_path: Path, api_url: str) -> Path:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "secret").write_text(SECRET + "\n")
    path = tmp_path / "relay.yml"
    path.write_text(
        textwrap.dedent(f"""
        global: {{locale: zh-CN, timezone: Asia/Shanghai}}
        storage: {{url: "sqlite:///{tmp_path}/relay.db"}}
        delivery: {{timeout: 5s}}
        route:
          receiver: ops
          group_by: [alertname]
          group_wait: 0s
          routes:
            - matchers: ['target="wrong"']
              receiver: wrong
        receivers:
          - name: ops
            dingtalk_configs:
              - access_token_file: {tmp_path / "token"}
                secret_file: {tmp_path / "secret"}
                api_url: {api_url}
                mention_label: owner
          - name: wrong
            dingtalk_configs:
              - {{access_token: {TOKEN}, secret: {WRONG}, api_url: {api_url}}}
    """),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def robot() -> Iterator[FakeDingTalk]:
    with FakeDingTalk(TOKEN, SECRET, keywords=("告警",)) as fake:
        yield fake


@pytest.fixture(scope="module")
def served(
    robot: FakeDingTalk,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RelayProcess, Path]]:
    config = write_config(tmp_path_factory.mktemp("dingtalk"), robot.api_url)
    relay = RelayProcess(config).start()
    try:
        yield relay, config
    finally:
        relay.stop()


def test_relay_serve_delivers_split_signed_and_mentioning(
    served: tuple[RelayProcess, Path],
    robot: FakeDingTalk,
) -> None:
    relay, _ = served
    items = [alert("DiskFull", instance=f"db-{i}:9100", owner="13800000000") for i in range(2)]
    for item in items:
        item["annotations"]["summary"] = "磁盘空间不足" * 700  # 12,600 bytes each: two parts
    before = len(robot.received)
    answer = httpx.post(
        f"{relay.url}/api/v1/alerts/webhook",
        timeout=5,
        json=webhook(*items, group_key='{}:{alertname="DiskFull"}'),
    )
    assert answer.status_code == 200, answer.text
    assert wait_for(lambda: len(robot.received) >= before + 2, timeout=20), relay.log()
    first, second = robot.received[before : before + 2]
    assert first["markdown"]["text"].splitlines()[0].endswith("(1/2)")
    assert second["markdown"]["text"].splitlines()[0].endswith("(2/2)")
    assert first["at"] == {"atMobiles": ["13800000000"]} and "at" not in second
    assert first["markdown"]["text"].endswith("@13800000000")
    assert wait_for(
        lambda: any(j["integration"] == "ops/dingtalk/0" and j["status"] == "delivered" for j in relay.jobs())
    )


def test_a_wrong_secret_is_dead_with_dingtalks_words_and_a_hint(
    served: tuple[RelayProcess, Path],
    robot: FakeDingTalk,
) -> None:
    relay, _ = served
    httpx.post(
        f"{relay.url}/api/v1/alerts/webhook",
        timeout=5,
        json=webhook(alert("Wrong", target="wrong"), group_key='{}:{alertname="Wrong"}'),
    )
    assert wait_for(
        lambda: any(j["integration"] == "wrong/dingtalk/0" and j["status"] == "dead" for j in relay.jobs()),
        timeout=20,
    ), relay.log()
    [job] = [j for j in relay.jobs() if j["integration"] == "wrong/dingtalk/0"]
    assert job["attempts"][0]["reason"] == "errcode_310000"
    assert "sign not match" in job["last_error"] and "加签: check secret" in job["last_error"]


def test_secrets_are_not_in_status_metrics_notifications_or_log(
    served: tuple[RelayProcess, Path],
    robot: FakeDingTalk,
) -> None:
    relay, _ = served
    assert wait_for(lambda: len(robot.answers) >= 3)  # the tests above have run
    pages = {
        path: httpx.get(f"{relay.url}{path}", timeout=5).text
        for path in ("/api/v1/status", "/metrics", "/api/v1/notifications")
    }
    pages["log"] = relay.log_path.read_text(errors="replace")
    leaked = [
        f"{what} in {where}"
        for where, text in pages.items()
        for what in (TOKEN, SECRET, WRONG)
        if what in text
    ]
    assert leaked == []
    assert "dingtalk" in pages["/metrics"]  # the pages are about the channel


def test_test_alert_through_the_receiver(
    served: tuple[RelayProcess, Path],
    robot: FakeDingTalk,
) -> None:
    _, config = served
    before = len(robot.received)
    result = CliRunner().invoke(main, ["test-alert", "--receiver", "ops", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "ops/dingtalk/0: ok" in result.output
    assert len(robot.received) == before + 1
    wrong = CliRunner().invoke(main, ["test-alert", "--receiver", "wrong", "--config", str(config)])
    assert wrong.exit_code == 1
    assert "errcode 310000: sign not match" in wrong.output and WRONG not in wrong.output


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_render_previews_the_bodies(served: tuple[RelayProcess, Path], locale: str) -> None:
    _, config = served
    result = CliRunner().invoke(
        main,
        ["render", "--channel", "dingtalk", "--config", str(config), "--receiver", "ops", "--locale", locale],
    )
    assert result.exit_code == 0, result.output
    note = result.stderr.strip()  # the summary line; the bodies are stdout
    assert note.startswith("dingtalk: 1 message, bytes ") and note.endswith("(limit 20000)")
    [body] = json.loads(result.stdout)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"]
    assert ("告警" if locale == "zh-CN" else "FIRING") in body["markdown"]["text"]
