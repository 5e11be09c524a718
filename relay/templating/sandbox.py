"""The sandbox templates run in (no unsafe attributes, bounded '*'), where a failure
happened (file:line), and the user's template files found by their globs."""

from __future__ import annotations

import ctypes
import functools
import glob
import itertools
import os
import re
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, Template, TemplateNotFound, TemplateSyntaxError
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
#: What one rendering may produce, in characters: a webhook body of 10,000 alerts is ~3 MB.
MAX_OUTPUT_CHARS = 4 * 1024 * 1024
#: How long one rendering may take (a built-in renders a part in milliseconds).
MAX_RENDER_SECONDS = 2.0
#: Output pieces between two looks at the clock (the watchdog catches the rest).
DEADLINE_CHECK_PIECES = 32
#: Loop iterations over range() in one rendering.
MAX_RANGE_STEPS = 1_000_000
#: String methods whose size argument makes the result that long ('a'.center(10**9)).
_SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_WIDTH = re.compile(r"(\d{7,})")
#: (type, attribute) pairs whose safety the sandbox remembers; past this it decides anew.
SAFE_ATTRIBUTES_KEPT = 4096
#: What a plain dict answers to as attributes: ``d.items`` is the method, ``d.labels`` the key.
_DICT_ATTRIBUTES = frozenset(dir(dict))
#: What a str.format the sandbox must wrap can be (both types are final).
_METHOD_TYPES = (types.MethodType, types.BuiltinMethodType)


class TemplateTooCostly(SecurityError):
    """A rendering past MAX_OUTPUT_CHARS, MAX_RENDER_SECONDS or MAX_RANGE_STEPS."""


class _Overtime(TemplateTooCostly):
    """What the watchdog raises in a rendering past its deadline (it cannot pass words)."""


@dataclass
class _Budget:
    deadline: float
    steps: int = 0

    def spend(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_RANGE_STEPS:
            raise TemplateTooCostly(f"more than {MAX_RANGE_STEPS} loop steps in one rendering")
        if time.monotonic() > self.deadline:
            raise TemplateTooCostly(f"rendering took longer than {MAX_RENDER_SECONDS:g}s")


_BUDGET: ContextVar[_Budget | None] = ContextVar("relay_template_budget", default=None)


def _spend(steps: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(steps)


def _sized(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_OUTPUT_CHARS:
        raise TemplateTooCostly(f"{what} is longer than {MAX_OUTPUT_CHARS} characters")
    return value


def _bounded_range(*args: int) -> Iterator[int]:
    """``range`` for templates: each step counts against the rendering's budget, so
    nested loops end with an error instead of running for hours."""
    steps = range(*args)
    if len(steps) > MAX_REPEAT:
        raise TemplateTooCostly(f"range longer than {MAX_REPEAT}")
    for index, value in enumerate(steps):
        if index % 64 == 0:
            _spend(64)
        yield value


def _no_huge_width(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses a size argument that alone would pass MAX_OUTPUT_CHARS."""

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_OUTPUT_CHARS:
                raise TemplateTooCostly(f"{name}({value}) would be longer than {MAX_OUTPUT_CHARS} characters")
        return _sized(function(*args, **kwargs), f"the result of {name}")

    return bounded


class _Watchdog:
    """Stops a rendering that runs past its deadline however it spends the time (a loop
    over 10,000 alerts inside another that outputs nothing never reaches a check of its
    own): a thread of its own raises TemplateTooCostly in the rendering thread, the way
    Ctrl-C interrupts the main one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}
        self._interrupted: set[int] = set()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float) -> bool:
        """Watch this thread until ``deadline``; False when it is watched already (a
        rendering inside a rendering keeps the outer deadline)."""
        ident = threading.get_ident()
        with self._lock:
            if ident in self._deadlines and ident not in self._interrupted:
                return False
            # An interrupt that landed past its rendering's own cleanup left this behind.
            self._interrupted.discard(ident)
            self._deadlines[ident] = deadline
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="relay-template-watchdog", daemon=True)
                self._thread.start()
        return True

    def release(self) -> bool:
        """Stop watching this thread; True when it was interrupted (the exception may
        still be on its way: it is absorbed here, not in the caller's code)."""
        ident = threading.get_ident()
        with self._lock:
            self._deadlines.pop(ident, None)
            interrupted = ident in self._interrupted
            self._interrupted.discard(ident)
        if interrupted:
            try:
                for _ in range(10_000):  # the interpreter delivers a pending interrupt here
                    pass
            except _Overtime:
                pass
        return interrupted

    def _run(self) -> None:
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            with self._lock:
                for ident, deadline in list(self._deadlines.items()):
                    if now > deadline and ident not in self._interrupted:
                        self._interrupted.add(ident)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(ident), ctypes.py_object(_Overtime)
                        )


_WATCHDOG = _Watchdog()


def render_bounded(template: Template, context: dict[str, Any]) -> str:
    """``template.render(context)`` within MAX_OUTPUT_CHARS and MAX_RENDER_SECONDS: the
    output is gathered piece by piece and checked as it grows, and a watchdog interrupts
    a rendering still running at its deadline."""
    deadline = time.monotonic() + MAX_RENDER_SECONDS
    budget = _Budget(deadline)
    token = _BUDGET.set(budget)
    watched = _WATCHDOG.watch(deadline + 0.05)
    interrupted = False
    pieces: list[str] = []
    try:
        size = 0
        try:
            for piece in template.root_render_func(template.new_context(context)):
                size += len(piece)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateTooCostly(f"output longer than {MAX_OUTPUT_CHARS} characters")
                pieces.append(piece)
                if not len(pieces) % DEADLINE_CHECK_PIECES:
                    budget.spend(0)
        except _Overtime:
            interrupted = True
        except Exception:
            template.environment.handle_exception()
    finally:
        try:
            _BUDGET.reset(token)
        finally:
            if watched:
                interrupted = _WATCHDOG.release() or interrupted
    if interrupted:
        raise TemplateTooCostly(f"rendering took longer than {MAX_RENDER_SECONDS:g}s")
    return template.environment.concat(pieces)


#: Where the loader finds the built-in templates (a user template of the same name wins).
BUILTIN = "builtin/"


class Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, stricter: unsafe attributes are errors, huge '*' and '**' are refused,
    and what a rendering may build is bounded (see render_bounded)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._safe_attributes: dict[tuple[type, str], bool] = {}
        super().__init__(*args, **kwargs)
        self.globals["range"] = _bounded_range
        for name in ("center", "indent", "wordwrap", "truncate", "format", "join", "replace"):
            if name in self.filters:
                self.filters[name] = _no_huge_width(name, self.filters[name])

    # A message of five alerts looks up ~140 attributes; the sandbox's check of each
    # (is it internal? does it modify a list or dict?) was 40% of a chat message's
    # rendering. Both checks depend on the object's type and the name alone, so each
    # (type, name) is decided once. tests/test_sandbox_fast_path.py compares the two
    # paths over random objects and names.
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        safe = self._safe_attributes.get(key)
        if safe is None:
            safe = super().is_safe_attribute(obj, attr, value)
            if len(self._safe_attributes) < SAFE_ATTRIBUTES_KEPT:
                self._safe_attributes[key] = safe
        return safe

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        # ``labels.severity`` on a plain dict: Python's getattr would raise AttributeError
        # before the sandbox tried the key; a name dict does not have goes to the key at once.
        if kind is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        # An attribute known safe whose value is no method (so no str.format to wrap).
        if self._safe_attributes.get((kind, attribute)):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                pass
            else:
                if type(value) not in _METHOD_TYPES:
                    return value
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        if isinstance(getattr(__obj, "__self__", None), str) and name in _SIZED_METHODS:
            for value in (*args, *kwargs.values()):
                if isinstance(value, int) and value > MAX_OUTPUT_CHARS:
                    raise TemplateTooCostly(
                        f"{name}({value}) would be longer than {MAX_OUTPUT_CHARS} characters"
                    )
        _spend(0)
        return _sized(super().call(__context, __obj, *args, **kwargs), f"the result of {name or 'a call'}")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        if _WIDTH.search(value.__self__):  # "{:>300000000}".format(x)
            raise TemplateTooCostly("a width of a million characters or more in a format string")

        def bounded(*args: Any, **kwargs: Any) -> str:
            return _sized(wrapped(*args, **kwargs), "a formatted string")  # type: ignore[no-any-return]

        return bounded

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%":
            if isinstance(left, str) and _WIDTH.search(left):  # "%300000000s" % x
                raise TemplateTooCostly("a width of a million characters or more in a % format")
            return _sized(left % right, "a % formatted string")
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
