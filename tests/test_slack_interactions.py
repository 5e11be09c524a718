"""Silence and acknowledge from Slack: the buttons, the signed interactivity endpoint, a
REAL Alertmanager (Debian's binary on loopback, read back with amtool), Slack's side
faked by a local server (chat.postMessage and the click's response_url)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest

from relay.channels.slack_actions import ACTIONS_BLOCK_ID, STATUS_BLOCK_ID
from relay.core.clock import FakeClock
from relay.web.slack_interactions import INTERACTIONS_PATH, MAX_BODY
from tests.conftest import Relay
from tests.helpers.alertmanager import (
    alertmanager_now,
    amtool_silences,
    start_alertmanager,
    url_of,
)
from tests.helpers.process import free_port
from tests.helpers.services import ServiceProcess
from tests.helpers.sink import Answer, Sink
from tests.helpers.slack import slack_signature
from tests.helpers.webhooks import alert, webhook

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
OTHER_SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "xoxb-test-token"


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    am = start_alertmanager(tmp_path_factory.mktemp("am"))
    try:
        yield am
    finally:
        am.stop()


@pytest.fixture(scope="module")
def slack_server() -> Iterator[Sink]:
    posted = Answer(
        200, {"ok": True, "channel": "C0ALERTS", "ts": "1.1"}, {"Content-Type": "application/json"}
    )
    with Sink(posted) as sink:
        yield sink


@pytest.fixture
def slack(slack_server: Sink) -> Sink:
    slack_server.script.clear()
    slack_server.received.clear()
    return slack_server


def dead_url() -> str:
    """An address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def config_yaml(
    slack: Sink, am_urls: list[str] | None, *, locale: str = "en", timezone: str = "UTC", secret: str = SECRET
) -> str:
    am = (
        f"""
    alertmanager:
      urls: {json.dumps(am_urls)}
      timeout: 2s"""
        if am_urls is not None
        else ""
    )
    return f"""
    global: {{timezone: {timezone}, locale: {locale}}}{am}
    route: {{receiver: oncall, repeat_interval: 4h}}
    receivers:
      - name: oncall
        slack_configs:
          - api_url: '{slack.url}/api/'
            token: '{TOKEN}'
            channel: '#alerts'
            signing_secret: '{secret}'
    """


RelayFactory = Callable[..., AbstractAsyncContextManager[Relay]]


@asynccontextmanager
async def started(relay_factory: RelayFactory, yaml_text: str, clock: FakeClock) -> AsyncIterator[Relay]:
    async with relay_factory(yaml_text, clock=clock) as relay:
        yield relay


async def notify(
    relay: Relay, slack: Sink, *alerts: dict[str, Any], group: str, group_labels: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Post a webhook for ``group``, deliver it; the job id and the message Slack got."""
    payload = webhook(*alerts, group_key=f'{{}}:{{alertname="{group}"}}')
    if group_labels is not None:
        payload["groupLabels"] = group_labels
    assert (await relay.post(payload)).status_code == 200
    jobs = await relay.jobs()
    await relay.deliver_all()
    message = slack.received[-1].json()
    assert slack.received[-1].path == "/api/chat.postMessage"
    return jobs[-1].id, message


def click(action: str, job_id: str, response_url: str, message: dict[str, Any] | None) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U024BE7LH", "username": "alice", "name": "alice"},
        "actions": [{"action_id": action, "block_id": ACTIONS_BLOCK_ID, "value": job_id, "type": "button"}],
        "response_url": response_url,
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C0ALERTS"},
        "message": message,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, timestamp: float, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(timestamp))
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def send_click(relay: Relay, body: bytes, headers: dict[str, str]) -> httpx.Response:
    response = await relay.client.post(INTERACTIONS_PATH, content=body, headers=headers)
    await relay.app.state.slack_interactions.idle()
    return response


def status_lines(update: dict[str, Any]) -> list[str]:
    for attachment in update.get("attachments", []):
        for block in attachment["blocks"]:
            if block.get("block_id") == STATUS_BLOCK_ID:
                return [e["text"] for e in block["elements"]]
    return []


def buttons(message: dict[str, Any]) -> list[str]:
    for block in message["attachments"][0]["blocks"]:
        if block.get("block_id") == ACTIONS_BLOCK_ID:
            return [e["action_id"] for e in block["elements"]]
    return []


# -- the message --------------------------------------------------------------------------


async def test_firing_message_has_buttons_carrying_the_job_id(
    relay_factory: RelayFactory,
    slack: Sink,
) -> None:
    clock = FakeClock()
    async with started(relay_factory, config_yaml(slack, [dead_url()]), clock) as relay:
        job_id, message = await notify(relay, slack, alert("ButtonsShown"), group="ButtonsShown")
        assert buttons(message) == ["relay_silence_1h", "relay_silence_4h", "relay_ack"]
        (actions,) = [b for b in message["attachments"][0]["blocks"] if b.get("block_id") == ACTIONS_BLOCK_ID]
        assert {e["value"] for e in actions["elements"]} == {job_id}
        assert [e["text"]["text"] for e in actions["elements"]] == ["Silence 1h", "Silence 4h", "Acknowledge"]

        resolved = alert("ButtonsShown", status="resolved")
        await notify(relay, slack, resolved, group="ButtonsShown")
        assert buttons(slack.received[-1].json()) == []  # nothing to silence any more


async def test_without_alertmanager_only_acknowledge(
    relay_factory: RelayFactory,
    slack: Sink,
) -> None:
    async with started(relay_factory, config_yaml(slack, None, locale="zh-CN"), FakeClock()) as relay:
        _, message = await notify(relay, slack, alert("AckOnly"), group="AckOnly")
        assert buttons(message) == ["relay_ack"]
        (actions,) = [b for b in message["attachments"][0]["blocks"] if b.get("block_id") == ACTIONS_BLOCK_ID]
        assert actions["elements"][0]["text"]["text"] == "确认"


# -- silences in a real Alertmanager ------------------------------------------------------


async def test_signed_click_creates_the_silence_and_updates_the_message(
    relay_factory: RelayFactory,
    slack: Sink,
    alertmanager: ServiceProcess,
) -> None:
    clock = FakeClock(alertmanager_now(alertmanager))
    yaml_text = config_yaml(slack, [url_of(alertmanager)])
    async with started(relay_factory, yaml_text, clock) as relay:
        tricky = 'db "core" \\ 数据库 ☃'
        job_id, message = await notify(
            relay,
            slack,
            alert("SilenceMe", team=tricky),
            group="SilenceMe",
            group_labels={"alertname": "SilenceMe", "team": tricky},
        )
        body = click("relay_silence_1h", job_id, f"{slack.url}/respond/1", message)
        response = await send_click(relay, body, signed(body, clock.now()))
        assert response.status_code == 200

    (silence,) = amtool_silences(alertmanager, "alertname=SilenceMe")
    # The group's labels (groupLabels of the webhook), equality matchers, values intact.
    assert sorted(silence["matchers"], key=lambda m: m["name"]) == [
        {"name": "alertname", "value": "SilenceMe", "isRegex": False, "isEqual": True},
        {"name": "team", "value": tricky, "isRegex": False, "isEqual": True},
    ]
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert ends == datetime.fromtimestamp(clock.now() + 3600, UTC)
    assert silence["createdBy"] == "alice (Slack, via relay)"
    assert silence["status"]["state"] == "active"

    (update,) = [r for r in slack.received if r.path == "/respond/1"]
    sent = update.json()
    assert sent["replace_original"] is True
    until = datetime.fromtimestamp(clock.now() + 3600, UTC).strftime("%H:%M")
    assert status_lines(sent) == [f"🔕 Silenced for 1h by <@U024BE7LH> until {until} UTC"]
    assert buttons(sent) == buttons(message)  # still there: one may acknowledge as well
    assert sent["attachments"][0]["blocks"][:-1] == message["attachments"][0]["blocks"]


async def test_zh_cn_message_and_time_in_the_configured_zone(
    relay_factory: RelayFactory,
    slack: Sink,
    alertmanager: ServiceProcess,
) -> None:
    clock = FakeClock(alertmanager_now(alertmanager))
    yaml_text = config_yaml(slack, [url_of(alertmanager)], locale="zh-CN", timezone="Asia/Shanghai")
    async with started(relay_factory, yaml_text, clock) as relay:
        job_id, message = await notify(relay, slack, alert("SilenceZh"), group="SilenceZh")
        body = click("relay_silence_4h", job_id, f"{slack.url}/respond/zh", message)
        assert (await send_click(relay, body, signed(body, clock.now()))).status_code == 200

    (silence,) = amtool_silences(alertmanager, "alertname=SilenceZh")
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert ends == datetime.fromtimestamp(clock.now() + 4 * 3600, UTC)
    (update,) = [r for r in slack.received if r.path == "/respond/zh"]
    shanghai = datetime.fromtimestamp(clock.now() + 4 * 3600, UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert status_lines(update.json()) == [f"🔕 已由 <@U024BE7LH> 静默 4小时，至 {shanghai:%H:%M} +08:00"]


async def test_ha_pair_first_url_down_second_accepts(
    relay_factory: RelayFactory,
    slack: Sink,
    alertmanager: ServiceProcess,
) -> None:
    clock = FakeClock(alertmanager_now(alertmanager))
    yaml_text = config_yaml(slack, [dead_url(), url_of(alertmanager)])
    async with started(relay_factory, yaml_text, clock) as relay:
        job_id, message = await notify(relay, slack, alert("SilenceHA"), group="SilenceHA")
        body = click("relay_silence_1h", job_id, f"{slack.url}/respond/ha", message)
        assert (await send_click(relay, body, signed(body, clock.now()))).status_code == 200

    assert len(amtool_silences(alertmanager, "alertname=SilenceHA")) == 1
    (update,) = [r for r in slack.received if r.path == "/respond/ha"]
    assert status_lines(update.json())[0].startswith("🔕 Silenced for 1h by <@U024BE7LH>")


@pytest.mark.parametrize("case", ["bad_signature", "other_secret", "stale", "future", "no_ts"])
async def test_unverified_request_is_401_and_creates_nothing(
    relay_factory: RelayFactory,
    slack: Sink,
    alertmanager: ServiceProcess,
    case: str,
) -> None:
    clock = FakeClock(alertmanager_now(alertmanager))
    group = f"Refused{case.title().replace('_', '')}"
    yaml_text = config_yaml(slack, [url_of(alertmanager)])
    async with started(relay_factory, yaml_text, clock) as relay:
        job_id, message = await notify(relay, slack, alert(group), group=group)
        body = click("relay_silence_1h", job_id, f"{slack.url}/respond/x", message)
        headers = {
            "bad_signature": {**signed(body, clock.now()), "X-Slack-Signature": "v0=" + "0" * 64},
            "other_secret": signed(body, clock.now(), secret=OTHER_SECRET),
            "stale": signed(body, clock.now() - 301),
            "future": signed(body, clock.now() + 301),
            "no_ts": {"X-Slack-Signature": signed(body, clock.now())["X-Slack-Signature"]},
        }[case]
        response = await send_click(relay, body, headers)
        assert response.status_code == 401
        assert response.json()["error"]
        # Tampering with a correctly signed body is caught too.
        tampered = body.replace(b"relay_silence_1h", b"relay_silence_4h")
        assert (await send_click(relay, tampered, signed(body, clock.now()))).status_code == 401

    assert amtool_silences(alertmanager, f"alertname={group}") == []
    assert [r for r in slack.received if r.path == "/respond/x"] == []


async def test_timestamp_just_inside_five_minutes_is_accepted(
    relay_factory: RelayFactory,
    slack: Sink,
) -> None:
    clock = FakeClock()
    async with started(relay_factory, config_yaml(slack, None), clock) as relay:
        job_id, message = await notify(relay, slack, alert("Edge"), group="Edge")
        body = click("relay_ack", job_id, f"{slack.url}/respond/edge", message)
        assert (await send_click(relay, body, signed(body, clock.now() - 300))).status_code == 200


async def test_unreachable_alertmanager_gives_a_readable_error_in_the_message(
    relay_factory: RelayFactory,
    slack: Sink,
) -> None:
    clock = FakeClock()
    down = [dead_url(), dead_url()]
    async with started(relay_factory, config_yaml(slack, down), clock) as relay:
        job_id, message = await notify(relay, slack, alert("NoAM"), group="NoAM")
        body = click("relay_silence_1h", job_id, f"{slack.url}/respond/down", message)
        assert (await send_click(relay, body, signed(body, clock.now()))).status_code == 200

    (update,) = [r for r in slack.received if r.path == "/respond/down"]
    (line,) = status_lines(update.json())
    assert line.startswith(
        "⚠️ Could not silence for 1h (asked by <@U024BE7LH>): Alertmanager did not accept it ("
    )
    for url in down:
        assert f"{url}: cannot connect" in line  # each URL tried, each failure named


async def test_not_configured_is_404_and_malformed_body_is_400(
    relay_factory: RelayFactory,
    slack: Sink,
) -> None:
    no_secret = config_yaml(slack, None).replace(f"signing_secret: '{SECRET}'", "")
    async with started(relay_factory, no_secret, FakeClock()) as relay:
        response = await relay.client.post(INTERACTIONS_PATH, content=b"payload=%7B%7D")
        assert response.status_code == 404
        assert "signing_secret" in response.text
    clock = FakeClock()
    async with started(relay_factory, config_yaml(slack, None), clock) as relay:
        for body in (b"not a form", b"payload=%7Bnot+json", b"\xff\xfe"):
            response = await send_click(relay, body, signed(body, clock.now()))
            assert response.status_code == 400, body
            assert "payload" in response.json()["error"]
        huge = b"payload=" + b"x" * MAX_BODY
        response = await send_click(relay, huge, signed(huge, clock.now()))
        assert response.status_code == 413


# -- acknowledgement ----------------------------------------------------------------------


async def test_acknowledge_stops_repeats_until_the_group_changes(
    relay_factory: RelayFactory,
    slack: Sink,
) -> None:
    clock = FakeClock()
    async with started(relay_factory, config_yaml(slack, None), clock) as relay:
        first = alert("Acked", instance="a")
        job_id, message = await notify(relay, slack, first, group="Acked")
        body = click("relay_ack", job_id, f"{slack.url}/respond/ack", message)
        assert (await send_click(relay, body, signed(body, clock.now()))).status_code == 200
        (update,) = [r for r in slack.received if r.path == "/respond/ack"]
        assert status_lines(update.json()) == ["✅ Acknowledged by <@U024BE7LH>"]

        listed = (await relay.client.get("/api/v1/notifications")).json()["notifications"]
        assert listed[0]["group_acknowledged"] == {"by": "alice", "at": clock.now()}

        payload = webhook(first, group_key='{}:{alertname="Acked"}')
        clock.advance(5 * 3600)  # past repeat_interval (4h): a repeat would be due
        answer = (await relay.post(payload)).json()
        assert len(await relay.jobs()) == 1
        assert [s["reason"] for s in answer["suppressed"]] == ["acknowledged"]

        # A new alert in the group: notified, and the acknowledgement is over.
        second = alert("Acked", instance="b")
        await relay.post(webhook(first, second, group_key='{}:{alertname="Acked"}'))
        assert len(await relay.jobs()) == 2
        listed = (await relay.client.get("/api/v1/notifications")).json()["notifications"]
        assert all(n["group_acknowledged"] is None for n in listed)
        clock.advance(5 * 3600)
        await relay.post(webhook(first, second, group_key='{}:{alertname="Acked"}'))
        assert len(await relay.jobs()) == 3  # repeats again


async def test_a_clicker_in_people_is_recorded_as_that_person(
    relay_factory: RelayFactory, slack: Sink
) -> None:
    clock = FakeClock()
    people = "people:\n      - {name: zhangsan, display_name: 张三, ids: {slack: U024BE7LH}}\n"
    async with started(relay_factory, config_yaml(slack, None) + people, clock) as relay:
        job_id, message = await notify(relay, slack, alert("ByPerson"), group="ByPerson")
        body = click("relay_ack", job_id, f"{slack.url}/respond/person", message)
        assert (await send_click(relay, body, signed(body, clock.now()))).status_code == 200
        assert [r for r in slack.received if r.path == "/respond/person"]
        (job,) = await relay.jobs()
        group = await relay.state.store.get_group(job.group_key)
        assert group is not None and group.ack is not None
        assert (group.ack["by"], group.ack["via"]) == ("zhangsan", "slack")


# -- shutdown: a click being acted on finishes first, up to a bound ------------------------


@asynccontextmanager
async def served(tmp_path: Any, yaml_text: str, clock: FakeClock) -> AsyncIterator[Relay]:
    """The app as `relay serve` runs it: its own lifespan (whose end waits for clicks)."""
    from relay.obs.metrics import Metrics
    from relay.store.sqlite import SQLiteStore
    from relay.web.service import create_app
    from tests.conftest import make_config

    store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/relay.db")
    app = create_app(make_config(yaml_text), store=store, clock=clock, metrics=Metrics(), background=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
            yield Relay(app, app.state.relay, clock, client)


def silence_created(delay: float) -> Answer:
    return Answer(200, {"silenceID": "0a1b2c"}, {"Content-Type": "application/json"}, delay=delay)


async def click_in_flight(relay: Relay, slack: Sink, action: str, respond_path: str) -> None:
    """A firing message clicked: answered at once, the action still on its way."""
    job_id, message = await notify(relay, slack, alert(f"Click{action}"), group=f"Click{action}")
    body = click(action, job_id, f"{slack.url}{respond_path}", message)
    response = await relay.client.post(
        INTERACTIONS_PATH, content=body, headers=signed(body, relay.clock.now())
    )
    assert response.status_code == 200
    assert not [r for r in slack.received if r.path == respond_path]


async def test_shutdown_waits_for_a_click_still_creating_its_silence(
    tmp_path: Any,
    slack: Sink,
) -> None:
    clock = FakeClock()
    with Sink(silence_created(delay=1.0)) as slow_alertmanager:
        async with served(tmp_path, config_yaml(slack, [slow_alertmanager.url]), clock) as relay:
            await click_in_flight(relay, slack, "relay_silence_4h", "/respond/stop")
        # The lifespan has ended: the silence was created and the user told, before it did.
        assert [r.path for r in slow_alertmanager.received] == ["/api/v2/silences"]
        (update,) = [r for r in slack.received if r.path == "/respond/stop"]
        assert status_lines(update.json())[0].startswith("🔕 Silenced for 4h by <@U024BE7LH>")


async def test_shutdown_does_not_wait_past_its_bound_for_a_hanging_alertmanager(
    tmp_path: Any,
    slack: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("relay.web.service.SHUTDOWN_ACTIONS_WAIT", 0.2)
    clock = FakeClock()
    with Sink(silence_created(delay=5.0)) as hanging_alertmanager:
        async with served(tmp_path, config_yaml(slack, [hanging_alertmanager.url]), clock) as relay:
            await click_in_flight(relay, slack, "relay_silence_1h", "/respond/hang")
            stopping = relay.app.state.slack_interactions
        # Shutdown went on with the click unfinished (the Alertmanager still holds it).
        assert [r.path for r in hanging_alertmanager.received] == ["/api/v2/silences"]
        assert not [r for r in slack.received if r.path == "/respond/hang"]
        for task in list(stopping._tasks):
            task.cancel()


# -- what a signed request may not do ---------------------------------------------------


async def acknowledged(relay: Relay, alertname: str) -> Any:
    """Who acknowledged the group of ``alertname`` (None: nobody), as the API says it."""
    listed = (await relay.client.get("/api/v1/notifications")).json()["notifications"]
    found = [n for n in listed if alertname in n["group_key"]]
    assert found, listed
    return found[0]["group_acknowledged"]


def with_team(body: bytes, team: str, user: str = "U024BE7LH") -> bytes:
    payload = json.loads(dict(parse_qsl(body.decode()))["payload"])
    payload["team"] = {"id": team, "domain": "example"}
    payload["user"]["id"] = user
    return urlencode({"payload": json.dumps(payload)}).encode()


async def test_a_replayed_request_acts_once(
    relay_factory: RelayFactory, slack: Sink, alertmanager: ServiceProcess
) -> None:
    clock = FakeClock(alertmanager_now(alertmanager))
    async with started(relay_factory, config_yaml(slack, [url_of(alertmanager)]), clock) as relay:
        job_id, message = await notify(relay, slack, alert("ReplayMe"), group="ReplayMe")
        body = click("relay_silence_4h", job_id, f"{slack.url}/respond/replay", message)
        headers = signed(body, clock.now())
        answers = [await send_click(relay, body, headers) for _ in range(3)]
        clock.advance(60)  # still within the 5 minutes a signature is accepted
        answers.append(await send_click(relay, body, headers))
    assert [a.status_code for a in answers] == [200, 200, 200, 200]  # answered as the first was
    assert len(amtool_silences(alertmanager, "alertname=ReplayMe")) == 1
    assert len([r for r in slack.received if r.path == "/respond/replay"]) == 1


async def test_another_workspace_is_refused(relay_factory: RelayFactory, slack: Sink) -> None:
    yaml_text = config_yaml(slack, None).replace(
        f"signing_secret: '{SECRET}'", f"signing_secret: '{SECRET}'\n            team_id: T0OURS"
    )
    clock = FakeClock()
    async with started(relay_factory, yaml_text, clock) as relay:
        job_id, message = await notify(relay, slack, alert("TeamCheck"), group="TeamCheck")
        base = click("relay_ack", job_id, f"{slack.url}/respond/team", message)
        theirs = with_team(base, "T0THEIRS")
        refused = await send_click(relay, theirs, signed(theirs, clock.now()))
        assert refused.status_code == 403 and "T0OURS" in refused.text
        assert await acknowledged(relay, "TeamCheck") is None
        ours = with_team(base, "T0OURS")
        assert (await send_click(relay, ours, signed(ours, clock.now()))).status_code == 200
        assert await acknowledged(relay, "TeamCheck") is not None


async def test_a_user_outside_allowed_users_is_told_and_nothing_happens(
    relay_factory: RelayFactory, slack: Sink
) -> None:
    yaml_text = config_yaml(slack, None).replace(
        f"signing_secret: '{SECRET}'", f"signing_secret: '{SECRET}'\n            allowed_users: [U0ONCALL]"
    )
    clock = FakeClock()
    async with started(relay_factory, yaml_text, clock) as relay:
        job_id, message = await notify(relay, slack, alert("WhoMay"), group="WhoMay")
        body = with_team(
            click("relay_ack", job_id, f"{slack.url}/respond/who", message), "T0", user="U0STRANGER"
        )
        assert (await send_click(relay, body, signed(body, clock.now()))).status_code == 200
        assert await acknowledged(relay, "WhoMay") is None
        (update,) = [r for r in slack.received if r.path == "/respond/who"]
        assert any("allowed_users" in line for line in status_lines(update.json()))


async def test_a_button_naming_another_channels_notification_acts_on_nothing(
    relay_factory: RelayFactory, slack: Sink
) -> None:
    yaml_text = config_yaml(slack, None).rstrip() + (
        "\n      - name: mail\n"
        "        email_configs: [{to: [a@example.com], from: r@example.com, smarthost: '127.0.0.1:9'}]\n"
    )
    clock = FakeClock()
    async with started(relay_factory, yaml_text, clock) as relay:
        _, message = await notify(relay, slack, alert("SlackOne"), group="SlackOne")
        payload = webhook(alert("MailOne"), group_key='{}:{alertname="MailOne"}')
        assert (await relay.post(payload, receiver="mail")).status_code == 200
        mail_job = next(j for j in await relay.jobs() if j.integration.startswith("mail/"))
        body = click("relay_ack", mail_job.id, f"{slack.url}/respond/mail", message)
        assert (await send_click(relay, body, signed(body, clock.now()))).status_code == 200
        assert await acknowledged(relay, "MailOne") is None
        (update,) = [r for r in slack.received if r.path == "/respond/mail"]
        assert any("does not belong to a Slack notification" in line for line in status_lines(update.json()))
