"""The console's JSON API on both store backends: filters, pages, actions with who did
them, 400/401/403/404/409, and no configured secret in any answer."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

import httpx
import respx

from relay.channels.base import Delivery, Message, Notifier, Preview
from relay.core import silence_links
from relay.core.alerts import Notification
from relay.pipeline.acks import acknowledge
from relay.web.console.api import ENDPOINTS
from tests.conftest import Relay
from tests.console_api.conftest import HOOK_URL, SECRETS, ConsoleFactory, json_of, leaked
from tests.helpers.webhooks import alert, webhook

WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"


def mock_vendors(mock: respx.MockRouter, *, hook_status: int = 200) -> None:
    mock.post(HOOK_URL).mock(
        return_value=httpx.Response(hook_status, text="sink says no" if hook_status >= 400 else "ok")
    )
    mock.post(url__startswith=WECOM).mock(
        return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
    )
    # Slack's incoming webhook refuses: its error names the URL, which holds the secret.
    mock.post(url__startswith="https://hooks.slack.com/").mock(
        return_value=httpx.Response(404, text="no_service")
    )


def unreachable(request: httpx.Request) -> httpx.Response:
    """A destination that cannot be reached; the error names its URL (and the secret in it)."""
    raise httpx.ConnectError(f"cannot reach {request.url}", request=request)


async def post_alerts(relay: Relay, names: list[str], first: int = 0, **labels: str) -> None:
    for i, name in enumerate(names, first):
        relay.clock.advance(1)
        body = webhook(alert(name, instance=f"node-{i}", **labels), group_key=f'{{}}:{{alertname="{name}"}}')
        assert (await relay.post(body)).status_code == 200


async def test_every_endpoint_needs_the_token(console: ConsoleFactory) -> None:
    async with console() as relay:
        for path, methods, _ in ENDPOINTS:
            url = path.replace("{id}", "x").replace("{key:path}", "x")
            for method in methods:
                answer = await relay.client.request(method, url, headers={"Authorization": ""})
                assert answer.status_code == 401, (method, url)
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
                assert not leaked(answer)


async def test_pages_walk_the_log_without_duplicates_or_gaps(console: ConsoleFactory) -> None:
    async with console() as relay:
        await post_alerts(relay, [f"Alert{i:02d}" for i in range(13)])
        everything = json_of(await relay.client.get("/api/v1/notifications", params={"limit": 1000}))[
            "notifications"
        ]
        assert len(everything) == 26  # two integrations each
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            page = json_of(await relay.client.get("/api/v1/notifications", params=params))
            seen += [n["id"] for n in page["notifications"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 7
        assert seen == [n["id"] for n in everything]
        times = [n["created_at"] for n in everything]
        assert times == sorted(times, reverse=True)


async def test_filters_select_their_notifications(console: ConsoleFactory) -> None:
    async with console() as relay:
        await post_alerts(relay, ["DiskFull", "CPU"])
        await post_alerts(relay, ["Replication"], team="db")
        start = relay.clock.now() + 0.5
        await post_alerts(relay, ["DiskFull"], first=10)

        async def ids(**params: Any) -> list[str]:
            page = json_of(await relay.client.get("/api/v1/notifications", params=params))
            return [n["integration"] + ":" + ",".join(n["alertnames"]) for n in page["notifications"]]

        assert await ids(receiver="db") == ["db/slack/0:Replication"]
        assert await ids(alertname="DiskFull", integration="oncall/wecom/0") == [
            "oncall/wecom/0:DiskFull",
            "oncall/wecom/0:DiskFull",
        ]
        assert sorted(await ids(alertname="DiskFull", since=start)) == [
            "oncall/webhook/0:DiskFull",
            "oncall/wecom/0:DiskFull",
        ]
        assert len(await ids(since=start)) == 2
        assert len(await ids(until=start)) == 5
        iso = "2000-01-01T00:00:00Z"
        assert await ids(until=iso) == []
        one = json_of(await relay.client.get("/api/v1/notifications", params={"limit": 1}))
        group = one["notifications"][0]["group_key"]
        assert len(await ids(group=group)) == 4  # both DiskFull webhooks: one group
        assert len(await ids(status="pending")) == 7
        assert await ids(status="retrying") == []


async def test_bad_filters_are_400_with_the_reason(console: ConsoleFactory) -> None:
    async with console() as relay:
        bad = {
            "status=lost": "unknown status 'lost'",
            "limit=0": "limit must be a number from 1 to 1000",
            "limit=abc": "limit must be",
            "since=yesterday": "since: expected unix seconds or an RFC 3339 time",
            "until=2024-01-01T00:00:00": "has no time zone",
            "since=10&until=5": "since is after until",
            "cursor=%%%": "cursor",
            "cursor=" + base64.urlsafe_b64encode(b'["g","x"]').decode(): "notifications list",
            "colour=red": "unknown parameter 'colour'",
        }
        for query, message in bad.items():
            answer = await relay.client.get(f"/api/v1/notifications?{query}")
            assert answer.status_code == 400, query
            assert message in answer.json()["error"], (query, answer.json())
        answer = await relay.client.get("/api/v1/groups?cursor=abc")
        assert answer.status_code == 400


async def test_a_notification_shows_attempts_and_the_message_as_sent(
    console: ConsoleFactory,
) -> None:
    async with console() as relay:
        await post_alerts(relay, ["DiskFull"])

        class Recording(Notifier):
            def preview(self, message: Message) -> Preview:
                return Preview(text="", note="recording")

            def digest_bodies(self, digest: Any) -> list[Any]:
                raise AssertionError("no digest in this test")

            async def send_digest(self, message: Any) -> Delivery:
                raise AssertionError("no digest in this test")

            async def send(self, message: Message) -> Delivery:
                # A template may echo a secret: what is kept has it redacted.
                return Delivery(sent=[f'{{"text": "disk <b> {SECRETS[4]}"}}', "x" * 300_000])

        integration = "oncall/wecom/0"
        relay.state.runtime.notifiers[integration] = Recording()
        with respx.mock(assert_all_called=False) as mock:
            mock_vendors(mock)
            await relay.deliver_all()
        listed = json_of(await relay.client.get("/api/v1/notifications", params={"integration": integration}))
        (summary,) = listed["notifications"]
        assert summary["status"] == "delivered"
        assert "sent" not in summary["attempts"][0]  # lists stay small
        detail = json_of(await relay.client.get(f"/api/v1/notifications/{summary['id']}"))
        sent = detail["attempts"][0]["sent"]
        assert sent[0] == '{"text": "disk <b> <redacted>"}'
        assert sent[-1].startswith("[truncated: ")
        assert detail["notification"]["alerts"][0]["labels"]["alertname"] == "DiskFull"
        answer = await relay.client.get("/api/v1/notifications/no-such-id")
        assert answer.status_code == 404 and "no-such-id" in answer.json()["error"]


async def test_retry_and_resend_are_recorded_with_who(console: ConsoleFactory) -> None:
    async with console() as relay:
        await post_alerts(relay, ["DiskFull"])
        with respx.mock(assert_all_called=False) as mock:
            hook = mock.post(HOOK_URL).mock(return_value=httpx.Response(400, text="bad request"))
            mock.post(url__startswith=WECOM).mock(
                return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
            )
            await relay.deliver_all()
        dead = json_of(await relay.client.get("/api/v1/notifications", params={"status": "dead"}))[
            "notifications"
        ]
        delivered = json_of(await relay.client.get("/api/v1/notifications", params={"status": "delivered"}))[
            "notifications"
        ]
        assert len(dead) == 1 and len(delivered) == 1
        dead_id, delivered_id = dead[0]["id"], delivered[0]["id"]
        # The refused body is kept with the failed attempt, exactly as posted.
        refused = json_of(await relay.client.get(f"/api/v1/notifications/{dead_id}"))
        assert refused["attempts"][-1]["sent"] == [hook.calls.last.request.content.decode()]

        assert (await relay.client.post(f"/api/v1/notifications/{delivered_id}/retry")).status_code == 409
        assert (await relay.client.post(f"/api/v1/notifications/{dead_id}/resend")).status_code == 409
        assert (await relay.client.post("/api/v1/notifications/nope/retry")).status_code == 404
        assert (await relay.client.post("/api/v1/notifications/nope/resend")).status_code == 404
        # A cross-site form cannot post here: JSON only.
        form = await relay.client.post(f"/api/v1/notifications/{dead_id}/retry", data={"a": "b"})
        assert form.status_code == 400 and "application/json" in form.json()["error"]

        retried = json_of(await relay.client.post(f"/api/v1/notifications/{dead_id}/retry"), 202)
        assert retried == {"id": dead_id, "status": "pending"}
        detail = json_of(await relay.client.get(f"/api/v1/notifications/{dead_id}"))
        assert detail["status"] == "pending" and detail["retrying"] is True
        assert [(a["action"], a["by"]) for a in detail["actions"]] == [("retry", "bearer")]

        resent = json_of(await relay.client.post(f"/api/v1/notifications/{delivered_id}/resend"), 202)
        copy = json_of(await relay.client.get(f"/api/v1/notifications/{resent['id']}"))
        assert copy["status"] == "pending" and copy["integration"] == "oncall/wecom/0"
        assert copy["actions"][0] == {
            "action": "resent_from",
            "by": "bearer",
            "at": relay.clock.now(),
            "job": delivered_id,
        }
        original = json_of(await relay.client.get(f"/api/v1/notifications/{delivered_id}"))
        assert original["actions"][0]["job"] == resent["id"]


async def test_read_only_refuses_actions_with_403(console: ConsoleFactory) -> None:
    async with console(read_only=True) as relay:
        await post_alerts(relay, ["DiskFull"])
        (job,) = (await relay.jobs())[:1]
        for path in (
            f"/api/v1/notifications/{job.id}/retry",
            f"/api/v1/notifications/{job.id}/resend",
            "/api/v1/send-test",
        ):
            answer = await relay.client.post(path, json={"integration": "oncall/wecom/0"})
            assert answer.status_code == 403, path
            assert "read-only" in answer.json()["error"]
        overview = json_of(await relay.client.get("/api/v1/overview"))
        assert overview["read_only"] is True


async def test_overview_shows_a_failing_integration(console: ConsoleFactory) -> None:
    async with console() as relay:
        await post_alerts(relay, ["DiskFull", "CPU"])
        with respx.mock(assert_all_called=False) as mock:
            mock_vendors(mock, hook_status=500)
            await relay.deliver_all()
        overview = json_of(await relay.client.get("/api/v1/overview"))
        by_id = {i["id"]: i for r in overview["receivers"] for i in r["integrations"]}
        hook, wecom, slack = (by_id["oncall/webhook/0"], by_id["oncall/wecom/0"], by_id["db/slack/0"])
        assert hook["health"] == "failing" and hook["last"]["reason"] == "http_500"
        assert hook["hour"] == {"delivered": 0, "failed": 2} and hook["queue"] == 2
        assert hook["oldest_pending_at"] is not None and hook["dead"] == 0
        assert wecom["health"] == "ok" and wecom["day"] == {"delivered": 2, "failed": 0}
        assert wecom["rate_limit"]["windows"][0]["limit"] == 20
        assert wecom["rate_limit"]["windows"][0]["used"] == 2
        assert slack["health"] == "idle" and slack["last"] is None
        assert overview["queue"]["pending"] == 2 and overview["storage"]["reachable"]


async def test_a_group_without_labels_silences_what_its_alerts_share(
    console: ConsoleFactory,
) -> None:
    async with console() as relay:
        relay.clock.advance(1)
        body = webhook(
            alert("DiskFull", instance="a", job="node"),
            alert("DiskFull", instance="b", job="node"),
            group_key="{}:{}",
        )
        body["groupLabels"] = {}  # Alertmanager's group_by: []
        assert (await relay.post(body)).status_code == 200
        (listed,) = json_of(await relay.client.get("/api/v1/groups"))["groups"]
        assert listed["labels"] == {}
        one = json_of(await relay.client.get(f"/api/v1/groups/{quote(listed['key'], safe='')}"))
        expected = silence_links.silence_url(
            {"alertname": "DiskFull", "job": "node", "severity": "warning"}, "http://alertmanager:9093"
        )
        assert one["silence_url"] == expected
        # ...the link the group's own messages carry.
        job = json_of(
            await relay.client.get(f"/api/v1/notifications/{one['integrations'][0]['last_job']['id']}")
        )
        assert Notification.model_validate(job["notification"]).silence_url == expected


async def test_groups_list_and_one_with_silence_link(console: ConsoleFactory) -> None:
    async with console() as relay:
        await post_alerts(relay, [f"Alert{i}" for i in range(5)])
        listed = json_of(await relay.client.get("/api/v1/groups", params={"limit": 2}))
        keys = [g["key"] for g in listed["groups"]]
        while listed["next_cursor"]:
            listed = json_of(
                await relay.client.get("/api/v1/groups", params={"limit": 2, "cursor": listed["next_cursor"]})
            )
            keys += [g["key"] for g in listed["groups"]]
        assert len(keys) == len(set(keys)) == 5 and keys == sorted(keys)
        one = json_of(await relay.client.get(f"/api/v1/groups/{quote(keys[0], safe='')}"))
        assert one["key"] == keys[0] and one["alerts"][0]["status"] == "firing"
        # The very link the group's messages carry (one rule: relay.core.silence_links).
        assert one["silence_url"] == silence_links.silence_url(
            {"alertname": "Alert0"}, "http://alertmanager:9093"
        )
        integrations = {i["id"]: i for i in one["integrations"]}
        hook = integrations["oncall/webhook/0"]
        assert hook["repeat_due_at"] == hook["last_sent_at"] + one["repeat_interval"]
        assert hook["last_job"]["integration"] == "oncall/webhook/0"
        assert (await relay.client.get("/api/v1/groups/nope")).status_code == 404
        by_receiver = json_of(await relay.client.get("/api/v1/groups", params={"receiver": "db"}))
        assert by_receiver == {"groups": [], "next_cursor": None}


async def test_an_acknowledged_group_shows_who_and_that_repeats_stopped(
    console: ConsoleFactory,
) -> None:
    async with console() as relay:
        await post_alerts(relay, ["Acked"])
        (key,) = [g["key"] for g in json_of(await relay.client.get("/api/v1/groups"))["groups"]]
        before = json_of(await relay.client.get(f"/api/v1/groups/{quote(key, safe='')}"))
        assert before["acknowledged"] is None
        assert before["integrations"][0]["repeat_due_at"] is not None
        group = await relay.state.store.get_group(key)
        assert group is not None
        firing = [fp for fp, a in group.alerts.items() if a.get("status") == "firing"]
        await relay.state.store.apply([acknowledge(key, "@li.wei", "slack", 1000.0, firing=firing)])

        after = json_of(await relay.client.get(f"/api/v1/groups/{quote(key, safe='')}"))
        assert after["acknowledged"] == {"by": "@li.wei", "at": 1000.0, "via": "slack"}
        assert {i["repeat_due_at"] for i in after["integrations"]} == {None}
        listed = json_of(await relay.client.get("/api/v1/groups"))["groups"]
        assert listed[0]["acknowledged"] == {"by": "@li.wei", "at": 1000.0, "via": "slack"}
        page = await relay.client.get("/ui/group", params={"key": key})
        assert page.status_code == 200 and 'id="acknowledged"' in page.text
        assert "@li.wei" in page.text


async def test_kept_webhooks_feed_the_playground(console: ConsoleFactory) -> None:
    async with console() as relay:
        await post_alerts(relay, [f"Alert{i}" for i in range(7)])
        kept = json_of(await relay.client.get("/api/v1/webhooks"))
        assert kept["keep"] == 5 and len(kept["webhooks"]) == 5
        newest = kept["webhooks"][0]
        assert newest["alerts"] == 1 and newest["status"] == "firing"
        one = json_of(await relay.client.get(f"/api/v1/webhooks/{newest['id']}"))
        assert one["body"]["alerts"][0]["labels"]["alertname"] == "Alert6"
        assert (await relay.client.get("/api/v1/webhooks/nope")).status_code == 404

        rendered = json_of(
            await relay.client.post(
                "/api/v1/render",
                json={"integration": "oncall/wecom/0", "locale": "zh-CN", "webhook_id": newest["id"]},
            )
        )
        assert rendered["locale"] == "zh-CN" and rendered["ok"] is True
        (part,) = rendered["parts"]
        assert part["unit"] == "content bytes" and part["limit"] == 4096
        assert 0 < part["size"] <= 4096 and "Alert6" in part["text"]
        assert "告警" in part["text"] or "触发" in part["text"]

        sample = json_of(await relay.client.post("/api/v1/render", json={"channel": "slack"}))
        assert sample["parts"][0]["unit"] == "characters"
        for body, status in (
            ({"integration": "oncall/slack/9"}, 404),
            ({"channel": "fax"}, 400),
            ({}, 400),
            ({"channel": "wecom", "locale": "fr"}, 400),
            ({"channel": "wecom", "webhook_id": "gone"}, 404),
            ({"channel": "wecom", "payload": {"version": "3"}}, 400),
        ):
            answer = await relay.client.post("/api/v1/render", json=body)
            assert answer.status_code == status, (body, answer.text)
            assert not leaked(answer)
        bad = await relay.client.post(
            "/api/v1/render", json={"channel": "wecom", "payload": {"version": "4", "status": "firing"}}
        )
        assert any("groupKey" in d for d in bad.json()["details"])


async def test_send_test_goes_through_one_integration(console: ConsoleFactory) -> None:
    async with console() as relay:
        with respx.mock(assert_all_called=False) as mock:
            mock_vendors(mock, hook_status=500)
            ok = json_of(await relay.client.post("/api/v1/send-test", json={"integration": "oncall/wecom/0"}))
            failed = json_of(
                await relay.client.post("/api/v1/send-test", json={"integration": "oncall/webhook/0"})
            )
            assert mock.calls.call_count == 2
        assert ok["ok"] is True and ok["result"] == "ok" and ok["by"] == "bearer"
        assert failed["ok"] is False and "http_500" in failed["result"]
        assert await relay.jobs() == []  # nothing queued: a one-off send
        missing = await relay.client.post("/api/v1/send-test", json={})
        assert missing.status_code == 400


async def test_routes_and_the_matcher_tester(console: ConsoleFactory) -> None:
    async with console() as relay:
        tree = json_of(await relay.client.get("/api/v1/routes"))["tree"]
        assert tree["receiver"] == "oncall"
        assert tree["routes"][0]["matchers"] == ['team="db"']
        reached = json_of(await relay.client.post("/api/v1/routes/test", json={"labels": {"team": "db"}}))
        assert reached["receivers"] == ["db"]
        assert [(r["id"], r["receiver"], r["gate"]) for r in reached["routes"]] == [("0.0", "db", "send")]
        other = json_of(await relay.client.post("/api/v1/routes/test", json={"labels": {"team": "web"}}))
        assert other["receivers"] == ["oncall"]
        for body in ({"labels": ["team=db"]}, {"labels": {"team": 1}}, {}):
            assert (await relay.client.post("/api/v1/routes/test", json=body)).status_code == 400
        broken = await relay.client.post(
            "/api/v1/routes/test", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]


async def test_config_shows_every_secret_as_placeholder(console: ConsoleFactory) -> None:
    async with console() as relay:
        answer = json_of(await relay.client.get("/api/v1/config"))
        config = answer["config"]
        assert config["server"]["auth"]["bearer_token"] == "<secret>"
        hook = config["receivers"][0]["webhook_configs"][0]
        assert hook["url"] == "<secret>" and hook["basic_auth"]["password"] == "<secret>"
        assert config["receivers"][0]["wecom_configs"][0]["key"] == "<secret>"
        assert config["server"]["ui"]["keep_webhooks"] == 5
        assert config["storage"]["url"] == "redis://<secret>@127.0.0.1:6379/0"


async def test_no_answer_holds_a_configured_secret(console: ConsoleFactory) -> None:
    """Every endpoint, after deliveries that failed with the URL in the error."""
    async with console() as relay:
        await post_alerts(relay, ["DiskFull"])
        with respx.mock(assert_all_called=False) as mock:
            mock.post(HOOK_URL).mock(side_effect=httpx.ConnectError(f"cannot reach {HOOK_URL}"))
            mock.post(url__startswith="https://hooks.slack.com/").mock(side_effect=unreachable)
            mock.post(url__startswith=WECOM).mock(
                return_value=httpx.Response(
                    200, json={"errcode": 93000, "errmsg": f"invalid key {SECRETS[4]}"}
                )
            )
            await relay.deliver_all()
            answers = [
                await relay.client.get(p)
                for p in (
                    "/api/v1/overview",
                    "/api/v1/notifications",
                    "/api/v1/groups",
                    "/api/v1/webhooks",
                    "/api/v1/routes",
                    "/api/v1/config",
                    "/api/v1/openapi.json",
                    "/api/v1/status",
                )
            ]
            jobs = json_of(answers[1])["notifications"]
            answers += [await relay.client.get(f"/api/v1/notifications/{j['id']}") for j in jobs]
            groups = json_of(answers[2])["groups"]
            answers += [await relay.client.get(f"/api/v1/groups/{quote(g['key'], safe='')}") for g in groups]
            for integration in ("oncall/webhook/0", "oncall/wecom/0", "db/slack/0"):
                answers.append(await relay.client.post("/api/v1/render", json={"integration": integration}))
                answers.append(
                    await relay.client.post("/api/v1/send-test", json={"integration": integration})
                )
        assert any(j["last_error"] for j in jobs)
        for answer in answers:
            assert answer.status_code < 500, answer.text
            assert leaked(answer) == [], answer.request.url


async def test_render_previews_the_digest_a_storm_would_send(console: ConsoleFactory) -> None:
    async with console() as relay:
        await post_alerts(relay, ["DiskFull"])
        newest = json_of(await relay.client.get("/api/v1/webhooks"))["webhooks"][0]
        storm = json_of(
            await relay.client.post(
                "/api/v1/render",
                json={
                    "integration": "oncall/wecom/0",
                    "webhook_id": newest["id"],
                    "digest": "storm",
                    "groups": 120,
                    "locale": "zh-CN",
                },
            )
        )
        assert storm["digest"] == "storm" and storm["ok"] is True
        assert storm["note"].startswith("wecom digest: ")
        assert len(storm["parts"]) > 1  # 120 groups do not fit one WeCom message
        assert all(p["size"] <= p["limit"] == 4096 and not p["over"] for p in storm["parts"])
        text = "".join(p["text"] for p in storm["parts"])
        assert all(re.search(rf"-{i}(?!\d)", text) for i in range(1, 121))  # every group
        assert "DiskFull" in text
        hold = json_of(
            await relay.client.post("/api/v1/render", json={"channel": "telegram", "digest": "hold"})
        )
        assert hold["digest"] == "hold" and hold["parts"][0]["unit"] == "characters"
        for body in (
            {"channel": "wecom", "digest": "flood"},
            {"channel": "wecom", "digest": "storm", "groups": 0},
            {"channel": "wecom", "digest": "storm", "groups": "5"},
            {"channel": "wecom", "digest": "storm", "groups": 1001},
        ):
            answer = await relay.client.post("/api/v1/render", json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"].split(":")[0] in ("digest", "groups")
