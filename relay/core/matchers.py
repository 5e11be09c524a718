"""Alertmanager's matcher syntax.

A matcher is ``name op value`` with op one of ``=``, ``!=``, ``=~``, ``!~``; the value is
bare or double-quoted with ``\\"``, ``\\\\`` and ``\\n`` escapes. Regexes are anchored
as Alertmanager anchors them: ``^(?:value)$``.

Regexes are RE2, as Alertmanager's (Go's regexp) are: matching takes time linear in the
label value, so a pattern like ``([a-z]+-?)+-prod`` cannot stall relay on a long value
(Python's backtracking ``re`` took 14 s on 30 characters, doubling with each one). RE2 has
no look-around and no back-references; ``$`` is the end of the value, never before a
trailing newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Protocol

import re2

Op = Literal["=", "!=", "=~", "!~"]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported once, with its place, by relay


class Regex(Protocol):
    def match(self, text: str) -> object | None: ...


def compile_regex(value: str) -> Regex:
    """``value`` as RE2, anchored as Alertmanager anchors a matcher. ValueError says what
    is wrong, and when the pattern uses what RE2 does not have, that it is RE2."""
    try:
        compiled: Regex = re2.compile(f"^(?:{value})$", _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        hint = ""
        if "perl operator" in text or "escape sequence" in text or "repetition" in text:
            hint = (
                " (relay matches with RE2, the syntax of Alertmanager and Prometheus: no"
                " look-ahead, look-behind or back-references)"
            )
        raise ValueError(f"invalid regex {value!r}: {text}{hint}") from None
    return compiled


_MATCHER = re.compile(
    r"""^\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$""",
    re.S,
)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}


def _unquote(text: str) -> str:
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        if '"' in text:
            raise ValueError(f"unbalanced quotes in value {text!r}")
        return text
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise ValueError(f'invalid escape in value {text!r} (use \\", \\\\ or \\n)')
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if ch == '"':
            raise ValueError(f"unescaped quote inside value {text!r}")
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: Regex | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: dict[str, str]) -> bool:
        # A missing label matches as the empty string, as in Alertmanager.
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.match(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def make_matcher(name: str, op: Op, value: str) -> Matcher:
    pattern = compile_regex(value) if op in ("=~", "!~") else None
    return Matcher(name, op, value, pattern)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher; ValueError says what is wrong in words a user can act on."""
    match = _MATCHER.match(text)
    if match is None:
        if re.match(r"^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=>|==|<|>|~=|!)", text):
            raise ValueError(f"unknown operator in {text!r} (use =, !=, =~ or !~)")
        raise ValueError(f"invalid matcher {text!r}: expected name, operator (=, !=, =~, !~) and value")
    op, raw = match.group("op"), match.group("value")
    if op in ("=", "!=") and raw[:1] in ("=", ">", "<", "~"):
        raise ValueError(f"unknown operator '{op}{raw[0]}' in {text!r} (use =, !=, =~ or !~)")
    value = _unquote(raw)
    return make_matcher(match.group("name"), op, value)  # type: ignore[arg-type]
