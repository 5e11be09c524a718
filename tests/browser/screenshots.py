"""`make screenshots`: a PNG of every console page into docs/ui/, for docs/ui.md.

Runs what the browser tests run (a real `relay serve`, a sink, Debian's chromium), feeds
it a few alerts so every page has something to show (a failing and a dead delivery, a
group with a silence link, a kept webhook), then photographs each page on a desk (1280 px,
English) and a few on a phone (390 px, Chinese; install fonts-noto-cjk for the glyphs).

    python -m tests.browser.screenshots [OUT_DIR]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.browser.conftest import Console, start_console
from tests.helpers.sink import Answer
from tests.helpers.webhooks import alert, webhook

DESK = [
    ("overview", "/ui/"),
    ("notifications", "/ui/notifications"),
    ("notification-dead", "/ui/notifications/{dead}"),
    ("groups", "/ui/groups"),
    ("group", "/ui/group?key={group}"),
    ("playground", "/ui/playground"),
    ("playground-digest", "/ui/playground"),
    ("routes", "/ui/routes?labels=alertname%3DDiskFull%0Ateam%3Dchat"),
    ("config", "/ui/config"),
]
PHONE = [
    ("phone-overview", "/ui/"),
    ("phone-notification", "/ui/notifications/{dead}"),
    ("phone-playground", "/ui/playground"),
]


def seed(console: Console) -> dict[str, str]:
    """Alerts that leave a delivered, a failing and a dead notification behind."""
    console.sink.answer(*[Answer(503, '{"error": "upstream maintenance"}')] * 40)
    disk = webhook(
        alert("DiskFull", instance="db-1:9100", severity="critical", team="db"),
        group_key='{}:{alertname="DiskFull"}',
    )
    disk["groupLabels"] = {"alertname": "DiskFull", "team": "db"}
    disk["externalURL"] = "http://alertmanager.example:9093"
    console.post(disk)
    dead = console.wait_for_status("dead", "DiskFull", timeout=30)
    with console.sink._lock:
        console.sink.script.clear()
    chat = webhook(
        alert("HighLatency", instance="api-1:8080", team="chat"),
        alert("HighLatency", instance="api-2:8080", team="chat"),
        group_key='{}:{alertname="HighLatency"}',
    )
    chat["groupLabels"] = {"alertname": "HighLatency"}
    console.post(chat)
    console.wait_for_status("delivered", "HighLatency")
    console.sink.answer(Answer(500, "internal error"))
    console.post(webhook(alert("CPUHigh", instance="node-7:9100"), group_key='{}:{alertname="CPUHigh"}'))
    time.sleep(1.0)  # one failed attempt, then delivered: the overview shows both
    return {"dead": dead["id"], "group": dead["group_key"]}


def shoot(console: Console, out: Path, ids: dict[str, str]) -> list[Path]:
    from urllib.parse import quote

    values = {name: quote(value, safe="") for name, value in ids.items()}
    made: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "chromium")
        for shots, width, lang in ((DESK, 1280, "en"), (PHONE, 390, "zh-CN")):
            context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
            page = context.new_page()
            sign_in(page, console.url, lang)
            for name, path in shots:
                page.goto(console.url + path.format(**values))
                if "playground" in name:
                    page.select_option("#p-target", "integration:chat/wecom/0")
                    if "digest" in name:  # the storm digest of 40 groups like the sample's
                        page.select_option("#p-message", "storm")
                        page.fill("#p-groups", "40")
                    page.click("#render")
                    page.wait_for_selector("#result figure.part")
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                made.append(target)
            context.close()
        browser.close()
    return made


def sign_in(page: Any, base: str, lang: str) -> None:
    from tests.browser.conftest import TOKEN

    page.goto(f"{base}/ui/login?lang={lang}")
    page.fill("#login-user", "Operator Li" if lang == "en" else "值班-李")
    page.fill("#login-secret", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/")


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/ui")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="relay-screens-") as tmp:
        console = start_console(Path(tmp))
        try:
            made = shoot(console, out, seed(console))
        finally:
            console.relay.stop()
            console.sink.stop()
    for path in made:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
