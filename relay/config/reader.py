"""Reading the config's YAML: keys given twice are an error, and a syntax error is one
line, ``file:line:column: invalid YAML: what (hint)``, that an operator can act on.

PyYAML keeps the last of two equal keys without a word, so a second ``receivers:``
pasted at the end of a file would silently drop every receiver above it. Alertmanager
refuses such a file (``key "route" already set in map``); relay does too.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A key given twice in one mapping; ``problem_mark`` is the second, ``context_mark`` the first."""

    def __init__(self, key: object, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(
            context=f"first at line {first.line + 1}",
            context_mark=first,
            problem=f"duplicate key {key!r}",
            problem_mark=second,
        )
        self.key, self.first, self.second = key, first, second


#: How deep a config may nest (the deepest real one is ~10: a route tree of a few levels).
MAX_DEPTH = 64
#: How many values a config may hold once its aliases are expanded: YAML's "billion
#: laughs" (each alias repeating the one before ten times) is a few lines that expand to
#: millions, and every later step (environment, validation) walks the expanded tree.
MAX_VALUES = 200_000


class NestingTooDeep(yaml.MarkedYAMLError):
    """Lists and mappings nested deeper than MAX_DEPTH."""

    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=mark)


class _StrictLoader(yaml.SafeLoader):
    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        # Composing is recursive: a file of 300 nested brackets would otherwise end in a
        # RecursionError traceback instead of a line that says where.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise NestingTooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Only the mapping's own keys count: a key that overrides one merged in with
        # `<<: *anchor` is what merge keys are for.
        first: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if earlier is not key_node:
                raise DuplicateKeyError(key, earlier.start_mark, key_node.start_mark)
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that raises DuplicateKeyError for a key given twice and
    NestingTooDeep past MAX_DEPTH."""
    return yaml.load(text, Loader=_StrictLoader)


class _TooBig(Exception):
    pass


def expansion_problem(value: Any) -> str | None:
    """Why the loaded config cannot be used as it expands, or None: an alias that refers
    to a list or mapping containing it (the tree would be infinite), nesting deeper than
    MAX_DEPTH through aliases, or more than MAX_VALUES values in all. Names the place."""
    count = 0
    on_path: set[int] = set()

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise _TooBig(
                f"{_place(path)}: the config expands to more than {MAX_VALUES} values; YAML"
                " aliases (*name) that repeat one another are the usual cause"
            )
        if not isinstance(node, dict | list):
            return
        if id(node) in on_path:
            raise _TooBig(f"{_place(path)}: a YAML alias refers to a list or mapping that contains it")
        if len(path) > MAX_DEPTH:
            raise _TooBig(f"{_place(path)}: nested deeper than {MAX_DEPTH} levels (through YAML aliases)")
        on_path.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            walk(child, (*path, key if isinstance(key, int | str) else repr(key)))
        on_path.discard(id(node))

    try:
        walk(value, ())
    except _TooBig as exc:
        return str(exc)
    return None


def _place(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path[:8]:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return (out + ("..." if len(path) > 8 else "")) or "config"


#: PyYAML's problem -> what to tell an operator: (what, hint).
_YAML_PROBLEMS: list[tuple[str, str, str]] = [
    ("found character '\\t'", "a tab character", "indent with spaces; YAML does not allow tabs"),
    ("could not find expected ':'", "missing ':' after a key", "write 'key: value'"),
    ("found unexpected end of stream", "unclosed quote", "close the quoted string on this line"),
    ("found undefined alias", "undefined alias", "define the &anchor before using *it"),
    (f"nested deeper than {MAX_DEPTH} levels", f"nested deeper than {MAX_DEPTH} levels", ""),
    (
        "found unknown escape character",
        "unknown escape in a double-quoted string",
        "use single quotes, or write \\\\ for a backslash",
    ),
]


def yaml_problem(exc: yaml.YAMLError, text: str, source: str) -> str:
    """One line, ``source:line:column: invalid YAML: what (hint)``, for a PyYAML error."""
    if isinstance(exc, DuplicateKeyError):
        first, second = exc.first, exc.second
        return (
            f"{source}:{second.line + 1}:{second.column + 1}: invalid YAML: duplicate key "
            f"{exc.key!r} (first at line {first.line + 1}; YAML would keep only the last one, "
            "so merge the two)"
        )
    problem = str(getattr(exc, "problem", None) or exc).strip()
    context = str(getattr(exc, "context", None) or "")
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    lines = text.splitlines()
    what, hint = problem, ""
    for needle, label, advice in _YAML_PROBLEMS:
        if needle in problem:
            what, hint = label, advice
            if context_mark is not None and needle != "found character '\\t'":
                mark = context_mark  # where the key or the quote starts
            break
    else:
        if "flow sequence" in context or "flow mapping" in context or "flow node" in context:
            opener = _unclosed_bracket(text)
            if opener is not None:
                line, column, char = opener
                closer = "]" if char == "[" else "}"
                return (
                    f"{source}:{line + 1}:{column + 1}: invalid YAML: unclosed '{char}' "
                    f"(close it with '{closer}')"
                )
            what, hint = "bad list or mapping in brackets", "separate items with ', '"
        elif problem == "mapping values are not allowed here" and mark is not None:
            before = lines[mark.line][: mark.column] if mark.line < len(lines) else ""
            what = "unexpected ':'"
            if ": " in before or before.rstrip().endswith(":"):
                hint = "a value that contains ': ' must be quoted"
            else:
                above = _content_above(lines, mark.line)
                deeper = _indented_under_a_value(lines, above, mark.line)
                if deeper is not None:
                    # YAML read the line as more of the value above it, and then met its
                    # ':': the line to fix is this one, at its indentation.
                    indent = len(lines[mark.line]) - len(lines[mark.line].lstrip(" "))
                    return (
                        f"{source}:{mark.line + 1}:{indent + 1}: invalid YAML: bad indentation "
                        f"({_deeper_hint(lines, mark.line, deeper)})"
                    )
                hint = (
                    f"is ':' missing after the key on line {above + 1}?"
                    if above is not None
                    else "a key may be missing its ':'"
                )
        elif problem.startswith("expected <block end>"):
            what, hint = "bad indentation", "line this up with the keys or list items above it"
            if mark is not None:
                deeper = _indented_under_a_value(lines, _content_above(lines, mark.line), mark.line)
                hint = _deeper_hint(lines, mark.line, deeper) or hint
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    return f"{where}: invalid YAML: {what}" + (f" ({hint})" if hint else "")


_KEY_WITH_VALUE = re.compile(r"^(?P<lead>[ ]*(?:- +)*)(?P<key>[^\s#:'\"][^:#]*?):[ ]+[^\s#]")


def _content_above(lines: list[str], line: int) -> int | None:
    """The nearest line above ``line`` that is neither blank nor a comment."""
    return next(
        (n for n in range(line - 1, -1, -1) if lines[n].strip() and not lines[n].lstrip().startswith("#")),
        None,
    )


def _deeper_hint(lines: list[str], line: int, deeper: tuple[int, str, int] | None) -> str | None:
    if deeper is None:
        return None
    above, key, column = deeper
    indent = len(lines[line]) - len(lines[line].lstrip(" "))
    return (
        f"indented {indent} spaces, deeper than '{key}:' on line {above + 1}, which has a value "
        f"already: indent it {column} spaces, like '{key}:'"
    )


def _indented_under_a_value(lines: list[str], above: int | None, line: int) -> tuple[int, str, int] | None:
    """(line above, key, column) when the line ``above`` is ``key: value`` and ``line`` is indented
    deeper than that key: an over-indented key, not a missing ':'."""
    if above is None or line >= len(lines):
        return None
    match = _KEY_WITH_VALUE.match(lines[above])
    if match is None:
        return None
    column = len(match.group("lead"))
    indent = len(lines[line]) - len(lines[line].lstrip(" "))
    return (above, match.group("key").strip(), column) if indent > column else None


def _unclosed_bracket(text: str) -> tuple[int, int, str] | None:
    """(line, column, char) of the innermost '[' or '{' never closed, skipping quoted
    strings and comments; None if every bracket is closed."""
    stack: list[tuple[int, int, str]] = []
    for number, line in enumerate(text.splitlines()):
        quote, previous = "", " "
        for column, char in enumerate(line):
            if quote:
                if char == quote and previous != "\\":
                    quote = ""
            elif char in "'\"" and previous in " \t,:[{-":  # not the ' of "don't"
                quote = char
            elif char == "#" and (column == 0 or line[column - 1] in " \t"):
                break
            elif char in "[{":
                stack.append((number, column, char))
            elif char in "]}" and stack:
                stack.pop()
            previous = char
    return stack[-1] if stack else None
