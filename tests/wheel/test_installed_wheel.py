"""What users install is what we test: the wheel, in a fresh virtual environment outside
the checkout, run from an empty directory.

The checkout's editable install reads templates/ and config/ from the source tree, so a
packaging mistake (package data left out, read as a path that only exists in the
checkout) passes every other test. Here the wheel is built, installed with its
dependencies into a new venv, and relay is run with no PYTHONPATH, no $RELAY_CONFIG and no
config/ in sight: it must serve its packaged default, deliver a real message, render every
channel in both locales byte for byte as the checkout does, and accept every example.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from relay.channels import CHANNELS_BY_KIND
from tests.helpers.process import free_port, wait_for
from tests.helpers.sink import Sink
from tests.helpers.webhooks import alert, webhook
from tests.test_examples import with_secret_files

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = list(CHANNELS_BY_KIND)  # every registered channel
LOCALES = ["en", "zh-CN"]
AT = "2026-11-25T10:00:00Z"  # every render pinned to one moment
EXAMPLES = sorted(p.stem for p in (ROOT / "config" / "examples").glob("*.yml"))


@dataclass
class Installed:
    relay: Path  # the installed console script
    workdir: Path  # an empty directory: no config/, no templates/, no relay/

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RELAY_CONFIG", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.relay.parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.relay), *args],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def python(self, code: str) -> str:
        """What ``code`` prints in the installed venv's Python, from the empty workdir."""
        return subprocess.run(
            [str(self.relay.parent / "python"), "-c", code],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout


def docker_context() -> list[str]:
    """The files `docker build .` sends: tracked and untracked-not-ignored files, less the
    patterns of .dockerignore (a name, a glob, or **/ for any depth)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(name: str) -> bool:
        parts = name.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(
            fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or fnmatch.fnmatch(prefix, pattern)
            for pattern in patterns
            for prefix in prefixes
        )

    return [name for name in files if (ROOT / name).is_file() and not ignored(name)]


def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    context = docker_context()
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    sources = [
        src
        for line in re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.M)
        for src in line.split()[:-1]
        if not src.startswith("--")
    ]
    assert sources, "no COPY in the Dockerfile"
    for src in sources:
        if src == ".":
            assert "pyproject.toml" in context and "templates/en/log.txt.j2" in context
            assert "setup.py" in context  # it lists the packages the wheel carries
        else:
            assert src in context, f"the Dockerfile copies {src}, which the build context lacks"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    dist, venv, workdir = base / "dist", base / "venv", base / "empty"
    workdir.mkdir()
    # Build from what the Dockerfile's builder stage gets: the sources git knows, less
    # .dockerignore (no .venv, no data/), so the image's wheel is the one tested here.
    source = base / "source"
    for name in docker_context():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    # setuptools warns about package data it would ignore or misplace: none of that.
    assert "Package would be ignored" not in build.stderr + build.stdout
    wheel = next(dist.glob("relay-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    yield Installed(relay=venv / "bin" / "relay", workdir=workdir)


def test_the_wheel_carries_the_templates_and_configs(installed: Installed) -> None:
    found = installed.python(
        "import relay, relay.core.resources as r; print(relay.__file__);"
        " print(r.packaged(r.TEMPLATES, 'zh-CN/wecom.markdown.j2').is_file());"
        " print(r.example_names())"
    ).splitlines()
    assert "site-packages" in found[0] and str(ROOT) not in found[0]
    assert found[1] == "True"
    assert found[2] == repr(EXAMPLES)


def test_every_file_of_the_package_is_in_the_wheel(installed: Installed) -> None:
    """Every module and data file under relay/ (Lua scripts, SQL schemas, the console's
    pages and static files): a new folder or file type cannot silently miss the wheel."""

    def listing(root: Path) -> set[str]:
        return {
            str(path.relative_to(root.parent))
            for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        }

    expected = listing(ROOT / "relay")
    found = set(
        installed.python(
            "import pathlib, relay; root = pathlib.Path(relay.__file__).parent;"
            " print('\\n'.join(str(p.relative_to(root.parent)) for p in root.rglob('*')"
            " if p.is_file() and '__pycache__' not in p.parts and p.suffix != '.pyc'))"
        ).split()
    )
    assert any(name.endswith(".lua") for name in expected) and any(name.endswith(".sql") for name in expected)
    assert not expected - found, f"missing from the wheel: {sorted(expected - found)}"


def test_every_registered_template_is_in_the_wheel_in_both_locales(installed: Installed) -> None:
    """Every channel's templates (digests included) as the installed registry names them."""
    missing = installed.python(
        "import relay.core.resources as r; from relay.channels import TEMPLATE_NAMES;"
        " print([f'{loc}/{n}.j2' for n in TEMPLATE_NAMES for loc in ('en', 'zh-CN')"
        " if not r.packaged(r.TEMPLATES, f'{loc}/{n}.j2').is_file()])"
    ).strip()
    assert missing == "[]"


def test_check_config_uses_the_packaged_default_from_an_empty_directory(installed: Installed) -> None:
    done = installed.run("check-config")
    assert "config <relay's packaged default config> is valid" in done.stdout
    assert "using the default config shipped with relay" in done.stderr
    assert installed.run("config", "example").stdout == (ROOT / "config" / "relay.yml").read_text()


@pytest.mark.parametrize("channel", CHANNELS)
def test_render_is_byte_for_byte_the_checkouts(installed: Installed, channel: str) -> None:
    checkout = ROOT / ".venv" / "bin" / "relay"
    digest = ("--digest", "storm", "--groups", "12")  # the digest templates too
    for args in [
        ("render", "--channel", channel, "--locale", locale, "--at", AT, *extra)
        for locale in LOCALES
        for extra in ((), digest)
    ]:
        wheel = installed.run(*args)
        here = subprocess.run(
            [str(checkout), *args],
            cwd=installed.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert wheel.stdout == here.stdout, args
        # The built-in templates were found: not the last-resort "[FIRING:3] ... (4 alerts)".
        assert "(4 alerts)" not in wheel.stdout and "template problem" not in wheel.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_the_wheel_prints_is_valid(installed: Installed, name: str, tmp_path: Path) -> None:
    printed = tmp_path / "printed" / f"{name}.yml"
    printed.parent.mkdir()
    printed.write_text(installed.run("config", "example", "--channel", name).stdout)
    config = with_secret_files(printed, tmp_path)
    done = installed.run("check-config", "--config", str(config))
    assert "is valid" in done.stdout


def test_serve_on_the_packaged_default_delivers_a_message(installed: Installed) -> None:
    log = installed.workdir / "serve.log"
    with serving(installed, log, "--log-format", "text") as url:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(ready, timeout=30), log.read_text()
        body = webhook(alert(name="HostDiskSpaceLow", instance="db-1:9100"))
        answer = httpx.post(f"{url}/api/v1/alerts/webhook", json=body, timeout=10)
        assert answer.status_code == 200 and answer.json()["notifications"] == 1, answer.text
        # The log receiver writes the message its built-in template renders.
        assert wait_for(lambda: "HostDiskSpaceLow on db-1:9100" in log.read_text(), timeout=15)
        # Grafana's webhook too, its links rendered by the wheel's templates.
        grafana = json.loads((ROOT / "tests" / "fixtures" / "grafana-11-firing.json").read_text())
        answer = httpx.post(f"{url}/api/v1/grafana/webhook", json=grafana, timeout=10)
        assert answer.status_code == 200 and answer.json()["notifications"] == 1, answer.text
        assert wait_for(lambda: "This alert was triggered for zone us-1" in log.read_text(), timeout=15)
        text = log.read_text()
        assert "using the default config shipped with relay" in text
        assert (installed.workdir / "data" / "relay.db").is_file()
        # The console's templates and static files came with the wheel.
        console = httpx.get(f"{url}/", follow_redirects=True, timeout=10)
        assert console.status_code == 200 and "HostDiskSpaceLow" not in console.text
        assert 'href="/ui/notifications"' in console.text
        for static in ("console.css", "console.js", "htmx.min.js"):
            asset = httpx.get(f"{url}/ui/static/{static}", timeout=10)
            assert asset.status_code == 200 and asset.content, static
        assert "Traceback" not in log.read_text()


def test_serve_delivers_to_a_webhook_over_http(installed: Installed, tmp_path: Path) -> None:
    """The installed relay sends through its own HTTP transport (httptools from the
    wheel's declared dependencies): a webhook receiver gets the notification."""
    with Sink() as sink:
        config = tmp_path / "relay.yml"
        config.write_text(
            f"storage: {{url: 'sqlite:///{tmp_path}/relay.db'}}\n"
            "route: {receiver: hook}\n"
            f"receivers: [{{name: hook, webhook_configs: [{{url: '{sink.url}/alerts'}}]}}]\n"
        )
        log = installed.workdir / "serve-webhook.log"
        with serving(installed, log, "--config", str(config)) as url:
            body = webhook(alert(name="HostDiskSpaceLow", instance="db-1:9100"))
            assert wait_for(lambda: _posted(url, body), timeout=30), log.read_text()
            assert wait_for(lambda: len(sink.received) == 1, timeout=15), log.read_text()
            sent = sink.received[0].json()
            assert sink.received[0].path == "/alerts"
            assert [a["labels"]["alertname"] for a in sent["alerts"]] == ["HostDiskSpaceLow"]
            assert "Traceback" not in log.read_text()


@contextmanager
def serving(installed: Installed, log: Path, *args: str) -> Iterator[str]:
    """The installed `relay serve` with ``args`` on a free loopback port, its output in
    ``log``; yields its URL, and stops it."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(installed.relay), "serve", *args, "--listen", f"127.0.0.1:{port}"],
            cwd=installed.workdir,
            env=installed.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _posted(url: str, body: dict[str, object]) -> bool:
    try:
        return httpx.post(f"{url}/api/v1/alerts/webhook", json=body, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
