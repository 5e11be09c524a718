"""The sandbox templates run in (no unsafe attributes, bounded '*'), where a failure
happened (file:line), and the user's template files found by their globs."""

from __future__ import annotations

import glob
import itertools
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, TemplateNotFound, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from relay.core.files import MAX_TEMPLATE_BYTES, FileProblem, read_text
from relay.core.resources import TEMPLATES, packaged
from relay.core.text import (
    LOCALES,
)

#: Paths one ``templates:`` pattern may match (files and directories).
MAX_MATCHES = 500
#: Characters of user templates in all.
MAX_TEMPLATES_CHARS = 16 * 1024 * 1024

#: The longest string or list a template may build with '*'.
MAX_REPEAT = 100_000
#: Where the loader finds the built-in templates (a user template of the same name wins).
BUILTIN = "builtin/"


class Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, stricter: unsafe attributes are errors, huge '*' and '**' are refused."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 1000:
                raise SecurityError("exponent too large")
            return left**right
        for seq, count in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(count, int)
                and len(seq) * count > MAX_REPEAT
            ):
                raise SecurityError(f"result longer than {MAX_REPEAT}")
        return left * right


class Loader(BaseLoader):
    """User templates by key ('email.subject.j2', 'zh-CN/email.subject.j2'), then built-ins."""

    def __init__(self, user: dict[str, tuple[str, str]]) -> None:
        self.user = user

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        if not template.startswith(BUILTIN) and template in self.user:
            source, filename = self.user[template]
            return source, filename, lambda: True
        relative = template.removeprefix(BUILTIN)
        if ".." in Path(relative).parts:
            raise TemplateNotFound(template)
        packaged_file = packaged(TEMPLATES, relative)
        if not packaged_file.is_file():
            raise TemplateNotFound(template)
        return packaged_file.read_text(encoding="utf-8"), f"{BUILTIN}{relative}", lambda: True


def autoescape(name: str | None) -> bool:
    return bool(name) and str(name).removesuffix(".j2").endswith((".html", ".htm"))


def where(exc: BaseException) -> tuple[str, int | None]:
    """The template file and line an error happened at, from the rewritten traceback."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.filename or exc.name or "<template>", exc.lineno
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.endswith(".py"):
            return frame.filename, frame.lineno
    return "<template>", None


def describe(exc: BaseException) -> str:
    filename, line = where(exc)
    message = exc.message if isinstance(exc, TemplateSyntaxError) else str(exc)
    return f"{filename}:{line if line is not None else '?'}: {type(exc).__name__}: {message}"


def load_user_templates(patterns: list[str]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Expand the globs (relative to the current directory): key -> (source, filename)."""
    found: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    total = 0
    for index, pattern in enumerate(patterns):
        matches = list(
            itertools.islice(glob.iglob(os.path.expanduser(pattern), recursive=True), MAX_MATCHES + 1)
        )
        if len(matches) > MAX_MATCHES:
            # '/**/*' would walk the whole disk and read every file it finds.
            problems.append(
                f"templates[{index}]: {pattern!r} matches more than {MAX_MATCHES} paths: name the"
                " directory of the templates (templates/*.j2, templates/zh-CN/*.j2)"
            )
            continue
        for filename in sorted(matches):
            path = Path(filename)
            if not path.is_file():
                continue
            key = path.name
            if path.parent.name in LOCALES:
                key = f"{path.parent.name}/{path.name}"
            try:
                text = read_text(path, MAX_TEMPLATE_BYTES)
            except FileProblem as exc:
                problems.append(str(exc))
                continue
            total += len(text)
            if total > MAX_TEMPLATES_CHARS:
                problems.append(f"templates: more than {MAX_TEMPLATES_CHARS} characters of templates in all")
                return found, problems
            found[key] = (text, str(path))
    return found, problems
