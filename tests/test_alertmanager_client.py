"""The ``alertmanager:`` section and the API v2 silence client (Alertmanager faked with
respx here; tests/test_slack_interactions.py uses a real one)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx

from relay.clients.alertmanager import AlertmanagerClient, AlertmanagerError
from relay.config import parse_config
from relay.config.alertmanager import AlertmanagerConfig
from relay.core.errors import ConfigError

STARTS = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
ENDS = STARTS + timedelta(hours=1)
TOKEN = "amBearerSecret-9f8e7d"


def config(**values: object) -> AlertmanagerConfig:
    return AlertmanagerConfig.model_validate(values)


async def create(cfg: AlertmanagerConfig, labels: dict[str, str] | None = None) -> str:
    async with httpx.AsyncClient() as http:
        silence = await AlertmanagerClient(cfg, http).create_silence(
            labels if labels is not None else {"alertname": "DiskFull"}, STARTS, ENDS, "alice", "from a test"
        )
        return f"{silence.id}@{silence.url}"


@respx.mock
async def test_posts_a_postable_silence() -> None:
    route = respx.post("http://am-1:9093/api/v2/silences").respond(200, json={"silenceID": "s1"})
    assert await create(config(url="http://am-1:9093/")) == "s1@http://am-1:9093"
    body = json.loads(route.calls.last.request.content)
    assert body == {
        "matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True}],
        "startsAt": "2026-11-22T06:00:00Z",
        "endsAt": "2026-11-22T07:00:00Z",
        "createdBy": "alice",
        "comment": "from a test",
    }
    assert "authorization" not in route.calls.last.request.headers


@respx.mock
@pytest.mark.parametrize("first", ["connect", "timeout", "http_500", "http_401", "not_am"])
async def test_tries_the_next_url_until_one_accepts(first: str) -> None:
    one = respx.post("http://am-1:9093/api/v2/silences")
    if first == "connect":
        one.mock(side_effect=httpx.ConnectError("connection refused"))
    elif first == "timeout":
        one.mock(side_effect=httpx.ReadTimeout("timed out"))
    elif first == "not_am":
        one.respond(200, text="<html>a login page</html>")
    else:
        one.respond(int(first.removeprefix("http_")), text="nope")
    two = respx.post("http://am-2:9093/api/v2/silences").respond(200, json={"silenceID": "s2"})
    cfg = config(urls=["http://am-1:9093", "http://am-2:9093"])
    assert await create(cfg) == "s2@http://am-2:9093"
    assert one.call_count == two.call_count == 1


@respx.mock
async def test_all_refuse_names_each_url_and_why() -> None:
    respx.post("http://am-1:9093/api/v2/silences").mock(side_effect=httpx.ConnectError("refused"))
    respx.post("http://am-2:9093/api/v2/silences").respond(400, text=f"bad matcher (token {TOKEN} echoed)")
    cfg = config(urls=["http://am-1:9093", "http://am-2:9093"], bearer_token=TOKEN)
    with pytest.raises(AlertmanagerError) as caught:
        await create(cfg)
    text = str(caught.value)
    assert text.startswith("http://am-1:9093: cannot connect (refused); http://am-2:9093: HTTP 400: ")
    assert TOKEN not in text


async def test_no_labels_is_refused_before_any_request() -> None:
    with pytest.raises(AlertmanagerError, match="would match every alert"):
        await create(config(url="http://am-1:9093"), labels={})


@respx.mock
async def test_auth_headers(tmp_path: Path) -> None:
    route = respx.post("http://am-1:9093/api/v2/silences").respond(200, json={"silenceID": "x"})
    await create(config(url="http://am-1:9093", bearer_token=TOKEN))
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    await create(
        config(url="http://am-1:9093", basic_auth={"username": "relay", "password_file": str(password)})
    )
    expected = "Basic " + base64.b64encode(b"relay:s3cret").decode()
    assert route.calls.last.request.headers["authorization"] == expected


def test_url_and_urls_merge_in_order_without_repeats() -> None:
    cfg = config(url="http://a:9093/", urls=["http://b:9093", "http://a:9093"])
    assert cfg.endpoints == ["http://a:9093", "http://b:9093"]


BASE = "route: {receiver: r}\nreceivers: [{name: r, log_configs: [{}]}]\n"


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("{}", "alertmanager: set url (one Alertmanager) or urls (an HA pair)"),
        ("{url: am:9093}", "alertmanager.url: expected an http:// or https:// URL, got 'am:9093'"),
        ("{urls: [http://a, ftp://b]}", "alertmanager.urls[1]: expected an http:// or https:// URL"),
        (
            "{url: http://a, bearer_token: t, basic_auth: {username: u, password: p}}",
            "alertmanager: set bearer_token or basic_auth, not both",
        ),
        ("{url: http://a, timeout: 0s}", "alertmanager.timeout:"),
        ("{url: http://a, urll: http://b}", "alertmanager.urll:"),
    ],
)
def test_config_problems_are_named(section: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"alertmanager: {section}\n{BASE}", env={})
    assert problem in str(caught.value)


def test_secrets_are_in_config_secrets(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    cfg = parse_config(f"alertmanager: {{url: http://a, bearer_token_file: {token_file}}}\n{BASE}", env={})
    assert cfg.alertmanager is not None
    assert cfg.alertmanager.bearer_token is not None
    assert cfg.alertmanager.bearer_token.get_secret_value() == TOKEN
    assert TOKEN in cfg.secrets()
    basic = parse_config(
        "alertmanager: {url: http://a, basic_auth: {username: u, password: pw-123}}\n" + BASE, env={}
    )
    assert {"pw-123", "u:pw-123"} <= set(basic.secrets())
