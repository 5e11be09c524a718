"""The console in a real browser against a real `relay serve` and a real sink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.browser.conftest import TOKEN, Console
from tests.helpers.process import wait_for
from tests.helpers.sink import Answer
from tests.helpers.webhooks import alert, webhook

PAGES = ["/ui/", "/ui/notifications", "/ui/groups", "/ui/playground", "/ui/routes", "/ui/config"]


def _hook_requests(console: Console, marker: str) -> list[Any]:
    return [
        r
        for r in list(console.sink.received)
        if r.path == "/hook" and marker in r.body.decode("utf-8", "replace")
    ]


def test_overview_shows_a_failing_integration_after_the_sink_answers_500(page: Any, console: Console) -> None:
    console.sink.answer(Answer(500, "downstream exploded"))
    console.post(webhook(alert("OverviewFails"), group_key='{}:{alertname="OverviewFails"}'))
    assert wait_for(lambda: any(n["attempts"] for n in console.notifications(alertname="OverviewFails")))
    page.goto(f"{console.url}/ui/")
    row = page.locator('tr[data-integration="hooks/webhook/0"]')
    assert "failing" in row.locator(".badge").first.inner_text()
    assert "downstream exploded" in row.inner_text()
    # Later attempts succeed (the sink's script ran out): the poll turns the row ok again.
    console.wait_for_status("delivered", "OverviewFails")
    page.wait_for_function(
        """() => document.querySelector('tr[data-integration="hooks/webhook/0"] .badge')
                 .textContent.trim() === 'ok'""",
        timeout=12_000,
    )


def test_a_dead_notification_retried_from_its_page_reaches_the_sink(page: Any, console: Console) -> None:
    console.sink.answer(*[Answer(503, "maintenance")] * 30)
    console.post(webhook(alert("RetryMe"), group_key='{}:{alertname="RetryMe"}'))
    dead = console.wait_for_status("dead", "RetryMe")
    with console.sink._lock:
        console.sink.script.clear()  # the downstream works again
    before = len(_hook_requests(console, "RetryMe"))
    page.goto(f"{console.url}/ui/notifications?status=dead")
    page.locator(f'a[href="/ui/notifications/{dead["id"]}"]').click()
    page.wait_for_url(f"**/ui/notifications/{dead['id']}")
    assert "maintenance" in page.locator("table.attempts").inner_text()
    page.get_by_role("button", name="Retry").click()
    assert "Queued again" in page.locator(".flash").inner_text()
    console.wait_for_status("delivered", "RetryMe")
    assert len(_hook_requests(console, "RetryMe")) == before + 1
    page.reload()
    assert page.locator("h1 .badge").inner_text() == "delivered"
    log = page.locator("ul.log").inner_text()
    assert "retry by session:Operator Li" in log


def test_keyboard_alone_reaches_and_activates_retry(page: Any, console: Console) -> None:
    console.sink.answer(*[Answer(400, "bad request")])  # permanent: dead at once
    console.post(webhook(alert("KeyboardRetry"), group_key='{}:{alertname="KeyboardRetry"}'))
    dead = console.wait_for_status("dead", "KeyboardRetry")
    page.goto(f"{console.url}/ui/notifications/{dead['id']}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")  # skip link: focus moves to the content
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "retry":
            break
    else:
        raise AssertionError("Tab never reached the Retry button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/notifications/{dead['id']}?done=retried")
    console.wait_for_status("delivered", "KeyboardRetry")


def test_playground_renders_wecom_in_chinese_and_shows_a_broken_templates_line(
    page: Any, console: Console
) -> None:
    page.goto(f"{console.url}/ui/playground")
    page.get_by_label("Integration or channel").select_option("integration:chat/wecom/0")
    page.get_by_label("Template language").select_option("zh-CN")
    page.get_by_role("button", name="Render").click()
    part = page.locator("#result figure.part").first
    part.wait_for()
    counter = part.locator(".counter").inner_text()
    assert "/ 4096" in counter and "字节" not in counter  # the page is in English

    readable = part.locator("pre.readable").text_content() or ""
    assert "告警" in readable
    size = int(part.locator(".counter").get_attribute("data-size") or "0")
    body = json.loads(part.locator("details pre").text_content() or "")
    assert body["markdown"]["content"] == readable
    assert size == len(readable.encode("utf-8"))

    broken = webhook(alert("Boom", boom="yes", team="chat"), group_key='{}:{alertname="Boom"}')
    page.get_by_label("Integration or channel").select_option("integration:chat/wecom/1")
    page.get_by_label("Alertmanager webhook JSON").fill(json.dumps(broken))
    assert page.locator("#src-paste").is_checked()  # typing picked the pasted payload
    page.get_by_role("button", name="Render").click()
    problems = page.locator("#result .problems")
    problems.wait_for()
    assert "custom/wecom.text.j2:3: ZeroDivisionError" in problems.inner_text()

    page.get_by_label("Alertmanager webhook JSON").fill('{"version": "4",')
    page.get_by_role("button", name="Render").click()  # answered 400, shown in place
    page.locator("#result .problem", has_text="invalid JSON").wait_for()
    assert page.url.endswith("/ui/playground")


def test_groups_link_to_an_alertmanager_silence_with_the_groups_matchers(page: Any, console: Console) -> None:
    payload = webhook(alert("SilenceMe", team="db"), group_key='{}:{alertname="SilenceMe", team="db"}')
    payload["groupLabels"] = {"alertname": "SilenceMe", "team": "db"}
    payload["externalURL"] = "http://alertmanager.example:9093"
    console.post(payload)
    page.goto(f"{console.url}/ui/groups")
    page.locator("table.groups a", has_text="SilenceMe").first.click()
    href = page.locator("#silence").get_attribute("href") or ""
    base, _, query = href.partition("#/silences/new?filter=")
    assert base == "http://alertmanager.example:9093/"
    matchers = unquote(query).strip("{}").split(",")
    assert sorted(m.strip() for m in matchers) == ['alertname="SilenceMe"', 'team="db"']
    assert 'alertname="SilenceMe"' in page.locator("main").inner_text()  # shown, quoted


def test_labels_that_look_like_markup_or_templates_stay_text(page: Any, console: Console) -> None:
    nasty = {
        "note": "<script>alert(1)</script>",
        "evil": '"><img src=x onerror=alert(2)>',
        "tpl": "{{ 7*7 }}",
    }
    console.post(webhook(alert("Escaped", **nasty), group_key='{}:{alertname="Escaped"}'))
    dead_or_sent = console.notifications(alertname="Escaped")[0]
    page.goto(f"{console.url}/ui/notifications/{dead_or_sent['id']}")
    text = page.locator("main").inner_text()
    for value in nasty.values():
        assert value in text
    assert page.locator("main img").count() == 0
    assert "49" not in page.locator("ul.labels").first.inner_text()
    page.goto(f"{console.url}/ui/groups")
    assert page.locator("main img").count() == 0


def test_every_page_fits_a_390px_phone_without_sideways_scrolling(page: Any, console: Console) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    console.post(webhook(alert("PhoneWidth"), group_key='{}:{alertname="PhoneWidth"}'))
    assert wait_for(lambda: console.notifications(alertname="PhoneWidth"))
    job = console.notifications(alertname="PhoneWidth")[0]  # not left over by another test
    for path in [*PAGES, f"/ui/notifications/{job['id']}"]:
        page.goto(console.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)


def test_acknowledge_from_the_group_page_shows_who_and_stops_repeats(page: Any, console: Console) -> None:
    console.post(webhook(alert("AckInBrowser"), group_key='{}:{alertname="AckInBrowser"}'))
    console.wait_for_status("delivered", "AckInBrowser")
    page.goto(f"{console.url}/ui/groups")
    page.locator("table.groups a", has_text="AckInBrowser").first.click()
    page.get_by_role("button", name="Acknowledge").click()
    assert "no repeat until the group changes" in page.locator(".flash").inner_text()
    assert "Operator Li" in page.locator("#acknowledged").inner_text()
    groups = console.api("/api/v1/groups")["groups"]
    (acked,) = [g for g in groups if "AckInBrowser" in g["key"]]
    assert acked["acknowledged"]["via"] == "console"
    assert "Operator Li via console" in page.locator("#timeline").inner_text()
    page.get_by_role("button", name="Unacknowledge").click()
    assert "Acknowledgement lifted" in page.locator(".flash").inner_text()
    assert page.locator("#acknowledged").count() == 0
    # Newest first: the lift, then the acknowledgement, then the notification, then firing.
    events = page.locator("#timeline tbody tr").all_inner_texts()
    assert "Acknowledgement lifted" in events[0] and "Operator Li via console" in events[1]
    assert "Firing (1 alert(s))" in events[-1]


@pytest.mark.parametrize(
    ("lang", "choose", "done"),
    [("zh-CN", "张三 (zhangsan)", "张三 已于"), ("en", "李四 (lisi)", "Acknowledged by 李四")],
)
def test_an_action_link_on_a_phone_acknowledges_in_both_languages(
    browser: Any, console: Console, lang: str, choose: str, done: str, tmp_path: Path
) -> None:
    name = f"PhoneAck{lang.replace('-', '')}"
    console.post(webhook(alert(name), group_key=f'{{}}:{{alertname="{name}"}}'))
    assert wait_for(lambda: any(name in r.body.decode() for r in console.sink.received if r.path == "/hook"))
    sent = next(r.json() for r in console.sink.received if r.path == "/hook" and name in r.body.decode())
    ack = next(a["url"] for a in sent["relay"]["actions"] if a["action"] == "ack")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale=lang)
    try:
        phone = context.new_page()
        phone.goto(ack)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert TOKEN not in phone.content()
        phone.screenshot(path=str(tmp_path / f"action-{lang}.png"), full_page=True)
        phone.get_by_label("你是谁？" if lang == "zh-CN" else "Who are you?").select_option(label=choose)
        phone.locator("#act").click()
        assert done in phone.locator("#done").inner_text()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.screenshot(path=str(tmp_path / f"action-{lang}-done.png"), full_page=True)
    finally:
        context.close()
    groups = console.api("/api/v1/groups")["groups"]
    (acked,) = [g for g in groups if name in g["key"]]
    assert acked["acknowledged"]["via"] == "link"
