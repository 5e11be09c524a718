"""The console's static files: htmx is the version its NOTICE names, and nothing the
pages load comes from another host."""

from __future__ import annotations

import hashlib
import re

from relay.web.console.render import STATIC_DIR, TEMPLATE_DIR


def test_vendored_htmx_matches_its_notice() -> None:
    notice = (STATIC_DIR / "NOTICE.md").read_text("utf-8")
    digest = hashlib.sha256((STATIC_DIR / "htmx.min.js").read_bytes()).hexdigest()
    assert f"file sha256 `{digest}`" in notice.replace("\n  ", " ")
    version = re.search(r"htmx (\d+\.\d+\.\d+)", notice)
    assert version is not None
    assert f'version:"{version.group(1)}"' in (STATIC_DIR / "htmx.min.js").read_text("utf-8")


def test_no_page_or_stylesheet_loads_anything_from_another_host() -> None:
    for path in [*TEMPLATE_DIR.glob("*.j2"), STATIC_DIR / "console.css", STATIC_DIR / "console.js"]:
        text = path.read_text("utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path
        assert "@import" not in text and "url(http" not in text, path


def test_no_template_has_inline_script_or_style() -> None:
    for path in TEMPLATE_DIR.glob("*.j2"):
        text = path.read_text("utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert "<style" not in text and " style=" not in text, path
        assert not re.search(r"\son[a-z]+\s*=", text), path  # onclick=... needs unsafe-inline
