"""Sandboxed Jinja2 rendering of notifications (built-in templates per channel and locale)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from relay.models import Notification


def builtin_template_dir() -> Path:
    """Where the built-in templates are: the wheel's package data, or the checkout's templates/."""
    try:
        return Path(str(resources.files("relay.builtin_templates")))
    except ModuleNotFoundError:
        # Running from a source checkout with `relay/` first on sys.path.
        return Path(__file__).resolve().parent.parent / "templates"


class _BuiltinLoader(BaseLoader):
    def __init__(self) -> None:
        self._root = builtin_template_dir()

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        path = self._root / template
        if not path.is_file():
            raise TemplateNotFound(template)
        return path.read_text(encoding="utf-8"), str(path), lambda: True


class Renderer:
    """Renders notifications with the built-in templates."""

    def __init__(self) -> None:
        self._env = SandboxedEnvironment(loader=_BuiltinLoader(), autoescape=False)

    def render_text(self, channel: str, notification: Notification, *, locale: str = "en") -> str:
        template = self._env.get_template(f"{locale}/{channel}.txt.j2")
        return template.render(n=notification, alerts=notification.alerts).strip()
