"""A real `relay serve`, a webhook sink standing in for the downstream, and Debian's
chromium driven by Playwright (its own browser download is not reachable here).

One relay, one sink and one browser serve the whole module: starting chromium takes
seconds, and the tests only add their own alerts (distinct group keys) to it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import require_binary
from tests.helpers.process import RelayProcess, wait_for
from tests.helpers.sink import Answer, Sink

TOKEN = "browser-test-token-7f3a"
WECOM_KEY = "wecom-key-browser-5c1d"
# A template that fails only for alerts labelled boom=yes: relay's start-up check renders
# the built-in sample, which has no such label, so relay starts; the playground shows the
# failure with its file and line when a pasted payload carries the label.
BROKEN_TEMPLATE = """\
{{ notification.status }}: {{ alerts | length }} alert(s)
{% for a in alerts %}
{% if a.labels.boom is defined %}{{ (a.labels | length) // 0 }}{% endif %}
- {{ a.labels.alertname }}
{% endfor %}
"""


@dataclass
class Console:
    relay: RelayProcess
    sink: Sink
    workdir: Path

    @property
    def url(self) -> str:
        return self.relay.url

    def post(self, payload: dict[str, Any], receiver: str | None = None) -> httpx.Response:
        path = "/api/v1/alerts/webhook" + (f"/{receiver}" if receiver else "")
        answer = httpx.post(
            self.url + path, json=payload, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer

    def api(self, path: str, **params: Any) -> Any:
        answer = httpx.get(
            self.url + path, params=params, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def notifications(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/notifications", limit=1000, **params)["notifications"])

    def wait_for_status(self, status: str, alertname: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first notification of ``alertname`` (each test has its own) in ``status``."""
        found: list[dict[str, Any]] = []

        def reached() -> bool:
            found[:] = [n for n in self.notifications(alertname=alertname) if n["status"] == status]
            return bool(found)

        assert wait_for(reached, timeout=timeout, interval=0.2), (status, alertname, self.relay.log())
        return found[0]


def console_config(sink: Sink, *, read_only: bool = False, port: int = 0) -> str:
    return textwrap.dedent(f"""\
        global:
          locale: en
          timezone: Asia/Shanghai
          external_url: http://127.0.0.1:{port}
        server:
          auth: {{bearer_token: {TOKEN}}}
          ui: {{read_only: {str(read_only).lower()}}}
        storage:
          url: sqlite:///./relay.db
        delivery:
          timeout: 2s
          retry_for: 2s
          backoff_initial: 0.2s
          backoff_max: 0.5s
        templates: [custom/*.j2]
        route:
          receiver: hooks
          group_wait: 0s
          group_interval: 1s
          repeat_interval: 4h
          routes:
            - matchers: ['team="chat"']
              receiver: chat
        receivers:
          - name: hooks
            webhook_configs:
              - url: {sink.url}/hook
          - name: chat
            wecom_configs:
              - webhook_url: {sink.url}/wecom?key={WECOM_KEY}
              - webhook_url: {sink.url}/wecom?key={WECOM_KEY}
                msgtype: text
        people:
          - {{name: zhangsan, display_name: 张三}}
          - {{name: lisi, display_name: 李四}}
        schedules:
          - name: sre-primary-rotation-with-a-long-name
            time_zone: Asia/Shanghai
            rotations: [{{people: [zhangsan, lisi], start: "2020-01-06T10:00:00", shift: 1w}}]
        """)


def start_console(tmp: Path, *, read_only: bool = False) -> Console:
    sink = Sink(default=Answer(200, {"errcode": 0, "errmsg": "ok"})).start()
    (tmp / "custom").mkdir(exist_ok=True)
    (tmp / "custom" / "wecom.text.j2").write_text(BROKEN_TEMPLATE, encoding="utf-8")
    config = tmp / "relay.yml"
    relay = RelayProcess(config)
    config.write_text(console_config(sink, read_only=read_only, port=relay.port), encoding="utf-8")
    try:
        relay.start()
    except Exception:
        sink.stop()
        raise
    return Console(relay, sink, tmp)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = start_console(tmp_path_factory.mktemp("console"))
    try:
        yield running
    finally:
        running.relay.stop()
        running.sink.stop()


# Module scope, not session: Playwright's sync API runs an event loop in this thread for
# as long as it is open, and the async tests collected after this folder need none running.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_binary("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        try:
            yield launched
        finally:
            launched.close()


def sign_in(page: Any, base: str) -> None:
    """The login form, as a person uses it."""
    page.goto(f"{base}/ui/")
    assert "/ui/login" in page.url
    page.get_by_label("Your name").fill("Operator Li")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/ui/")


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    tab = context.new_page()
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    sign_in(tab, console.url)
    try:
        yield tab
    finally:
        context.close()
    # A CSP violation, a script error, a missing asset or an alert() opened by injected
    # markup shows here. A 400 is a page explaining a user's bad input (the playground's
    # pasted JSON), which Chrome logs as a failed load too.
    assert [e for e in errors if "status of 400 (Bad Request)" not in e] == []
