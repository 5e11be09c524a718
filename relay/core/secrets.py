"""Secrets in config: ``SecretStr`` fields with ``*_file`` twins, and redaction for output."""

from __future__ import annotations

import base64
import binascii
import functools
import heapq
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from relay.core.files import MAX_SECRET_BYTES, FileProblem, read_text


class StrictModel(BaseModel):
    """Config sections reject unknown keys, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SecretFieldsModel(StrictModel):
    """A config model whose ``secret_fields`` may be given inline or as ``<name>_file``.

    Both set is an error; the file's content (trailing newline removed) becomes the value.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in cls.secret_fields:
            file_key = f"{name}_file"
            path = data.pop(file_key, None)
            if path is None:
                continue
            if data.get(name) not in (None, ""):
                raise ValueError(f"set either {name} or {file_key}, not both")
            try:
                data[name] = read_text(str(path), MAX_SECRET_BYTES).rstrip("\r\n")
            except FileProblem as exc:
                raise ValueError(f"{file_key}: {exc}") from None
        return data


def secret_value(secret: SecretStr | None) -> str:
    return secret.get_secret_value() if secret is not None else ""


_URL_SECRET_PARAMS = re.compile(
    r"((?:key|token|access_token|corpsecret|secret|password|sig|signature)=)[^&\s\"']+", re.I
)
# The scheme starts at a word's start: the leftmost match is the same as without the
# look-behind, but a long run of word characters is no longer re-scanned from each of its
# positions (quadratic: minutes for the 256 KiB of a message as sent).
# The user may be empty: Redis URLs are written redis://:password@host.
_URL_USERINFO = re.compile(r"(?<!\w)(\w+://)[^/@\s:]*:[^/@\s]+@")
_SLACK_HOOK = re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+")
_BEARERISH = re.compile(r"\b(xox[abposr]-)[A-Za-z0-9-]+")
#: A Telegram bot token, <bot id>:<35 characters>, also inside /bot<token>/ of a URL path.
_TELEGRAM_TOKEN = re.compile(r"(?<![0-9])([0-9]{5,20}(?::|%3A))[A-Za-z0-9_-]{30,}", re.I)


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with known secret values, in every form of :func:`secret_forms`, and
    secret-looking URL parts replaced by '<redacted>'."""
    pattern = _secrets_pattern(tuple(secrets))
    if pattern is not None:
        text = pattern.sub("<redacted>", text)
    text = anchored_sub(_URL_SECRET_PARAMS, r"\1<redacted>", text, _EQUALS, _param_start)
    text = anchored_sub(_URL_USERINFO, r"\1<redacted>@", text, _SCHEME_END, _word_start)
    text = _SLACK_HOOK.sub(r"\1<redacted>", text)
    text = anchored_sub(_TELEGRAM_TOKEN, r"\1<redacted>", text, _TOKEN_COLON, _digits_start)
    if "xox" not in text:  # the pattern's literal: no match without it
        return text
    return _BEARERISH.sub(r"\1<redacted>", text)


# -- the same matches, found from the character every match contains ---------------------
#
# Every delivered message is redacted before it is kept (2 KB of JSON took 340 µs: a
# quarter of what a delivery cost). A pattern that starts with an alternation or a
# look-behind is tried at every position of the text; each of these matches contains a
# short literal ('=', '://', ':'), which str.find and a literal regex skip to at C speed.
# For each occurrence, the positions a match could start at are tried in order with the
# pattern itself: the matches, and so the result, are those of ``pattern.sub``
# (tests/test_secrets.py compares the two over random texts).

_EQUALS = re.compile("=")
_SCHEME_END = re.compile("://")


class _EitherLiteral:
    """The matches of ``(?:a|b)rest`` for two patterns ``a rest`` and ``b rest`` that
    each start with a literal: re finds a literal at C speed, but tries an alternation
    at every position (a 2 KB message took 13 µs instead of 4). The two never match the
    same characters here (neither literal can occur inside the other's match), so their
    matches, merged by position, are the alternation's."""

    def __init__(self, first: str, second: str, flags: re.RegexFlag = re.NOFLAG) -> None:
        self._patterns = (re.compile(first, flags), re.compile(second, flags))

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return heapq.merge(*(p.finditer(text) for p in self._patterns), key=lambda m: m.start())


#: The ':' (or its %3A) with the 30 token characters after it: JSON has a ':' after
#: every key, and none of those is followed by a token. Case-insensitive as the token
#: pattern is: under re.I, [A-Za-z] also takes 'ſ' and the Kelvin sign 'K'.
_TOKEN_COLON = _EitherLiteral(":[A-Za-z0-9_-]{30}", "%3[Aa][A-Za-z0-9_-]{30}", re.I)
#: The longest name _URL_SECRET_PARAMS redacts after ("access_token").
_LONGEST_PARAM = 12


def _param_start(text: str, equals: re.Match[str], done: int) -> tuple[int, ...]:
    """Where a ``name=`` ending at this '=' starts: a name is 3 to 12 characters, and the
    first start (from ``done`` on) where _URL_SECRET_PARAMS matches is the one. It is
    found in one search rather than a match at each of the 10 (a 2 KB message's '='s took
    16 µs). The search stops one character past the '=': whether the value matches
    depends on its first character alone. No name contains '=', and an earlier '=' had
    its own turn, so a match it finds is this '=''s."""
    at = equals.start()
    found = _URL_SECRET_PARAMS.search(text, max(done, at - _LONGEST_PARAM), at + 2)
    return (found.start(),) if found is not None else ()


def _word_start(text: str, scheme_end: re.Match[str], done: int) -> range:
    """The start of the run of word characters before '://' (a scheme: ``\\w+://``)."""
    at = start = scheme_end.start()
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return range(start, start + 1) if start < at else range(0)


def _digits_start(text: str, colon: re.Match[str], done: int) -> range:
    """The start of the 5 to 20 ASCII digits before the ':' (a bot id before its ':')."""
    at = start = colon.start()
    while start > 0 and "0" <= text[start - 1] <= "9" and at - start <= 20:
        start -= 1
    return range(start, start + 1) if 5 <= at - start <= 20 else range(0)


def anchored_sub(
    pattern: re.Pattern[str],
    template: str,
    text: str,
    anchor: re.Pattern[str] | _EitherLiteral,
    starts: Callable[[str, re.Match[str], int], Iterable[int]],
) -> str:
    """``pattern.sub(template, text)`` for a pattern each of whose matches contains an
    ``anchor`` match, and starts at one of ``starts(text, anchor match, done)`` (those
    before ``done``, the end of the last match, are skipped): left to right, each match
    as the pattern finds it, none overlapping the one before."""
    pieces: list[str] = []
    done = 0  # text before this is copied or replaced
    for found in anchor.finditer(text):
        if found.end() <= done:
            continue
        for start in starts(text, found, done):
            if start < done:
                continue
            match = pattern.match(text, start)
            if match is not None:
                pieces += [text[done:start], match.expand(template)]
                done = match.end()
                break
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


# -- the forms a secret takes on the wire ---------------------------------------------

#: A shorter secret is a word, not a credential: redacting it would mangle messages.
MIN_SECRET = 4
#: Base64 and hex forms shorter than this are not redacted. Such short runs of letters and
#: digits turn up in ids, hashes and words, and one stands for under 4 bytes of the secret.
#: So a password of 4 bytes inside base64("user:password") is left to the pair's own
#: entry (Config.secrets lists it); from 5 bytes on the password alone is enough.
MIN_ENCODED = 6

_PERCENT = re.compile(r"%[0-9A-F]{2}")
_TO_URLSAFE = str.maketrans("+/", "-_")


def secret_forms(secret: str) -> set[str]:
    """Every way ``secret`` plausibly comes back from a destination that echoes it.

    The value itself; JSON-escaped (``\\uXXXX``, ``\\/``); URL-encoded (``quote`` with and
    without '/' safe, ``quote_plus``, upper- and lower-case hex); hex of its UTF-8 bytes;
    base64, standard and URL-safe, padded or not, and URL-encoded; and the pieces of
    base64 that stand for it inside a longer encoded value, at each of the three byte
    alignments (a password inside ``Authorization: Basic base64(user:password)``).
    Empty for a secret shorter than :data:`MIN_SECRET`.
    """
    if len(secret) < MIN_SECRET:
        return set()
    raw = secret.encode()
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, escaped, escaped.replace("/", "\\/"), json.dumps(secret, ensure_ascii=False)[1:-1]}
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        forms |= {encoded, _PERCENT.sub(lambda m: m.group(0).lower(), encoded)}
    binary = {raw.hex(), raw.hex().upper()}
    padded = base64.b64encode(raw).decode()
    for text in (padded, padded.translate(_TO_URLSAFE)):
        binary |= {text, text.rstrip("="), quote(text, safe="")}
    for piece in _base64_pieces(raw):
        binary |= {piece, piece.translate(_TO_URLSAFE), quote(piece, safe="")}
    return forms | {form for form in binary if len(form) >= MIN_ENCODED}


def _base64_pieces(raw: bytes) -> Iterable[str]:
    """For each alignment ``shift`` = len(prefix) % 3: the characters of
    base64(prefix + raw + suffix) made of ``raw``'s bits only, the same whatever the prefix
    and suffix. The one or two characters either side mix in a few bits of the
    neighbours and stay (at most 4 bits of the secret each)."""
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + raw).decode()
        first = -(-8 * shift // 6)  # the first character wholly after the prefix
        end = 8 * (shift + len(raw)) // 6  # past the last one wholly inside raw
        yield encoded[first:end]


def header_credentials(value: str) -> list[str]:
    """The credential inside an ``Authorization``-style value, which a destination may echo
    without its scheme: ``Bearer T`` -> T; ``Basic B`` -> B, and the ``user:password`` and
    password B decodes to."""
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if not scheme.isalpha() or not credential or " " in credential:
        return []
    found = [credential]
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return found
        found += [pair, pair.partition(":")[2]]
    return [v for v in found if v]


@functools.lru_cache(maxsize=256)
def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled regex for every form of every secret, built once per list of secrets
    (call sites pass the same list for every failed attempt of a config).

    The forms go into a trie written as a regex, so that the matcher follows at most one
    branch per character instead of trying every alternative at every position; at each
    position the longest form wins."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= secret_forms(secret)
    if not forms:
        return None
    try:
        return re.compile(_trie_regex(sorted(forms)))
    except (RecursionError, re.error):  # a trie nested too deep for the parser
        return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def _trie_regex(words: list[str]) -> str:
    """A regex matching exactly ``words``, preferring the longest; single-child chains are
    written as one literal, so nesting grows only where words share a prefix."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _emit(trie)


def _emit(node: dict[str, Any]) -> str:
    branches = []
    for char, child in sorted(node.items()):
        if not char:
            continue
        literal = re.escape(char)
        while "" not in child and len(child) == 1:  # compress a chain
            ((char, child),) = child.items()
            literal += re.escape(char)
        branches.append(literal + _emit(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def same_secret(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time equality for a credential from a request. ``hmac.compare_digest``
    refuses a str with non-ASCII characters (TypeError: a 500 for the client's typo), so
    text is compared as its UTF-8 bytes."""

    def raw(value: str | bytes) -> bytes:
        return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value

    return hmac.compare_digest(raw(given), raw(expected))


def mask_phone(number: str) -> str:
    """A phone number as relay shows it anywhere: the last four digits and the four
    before them hidden, the rest kept (``+8613800000001`` -> ``+86138****0001``)."""
    if len(number) < 8:
        return "*" * len(number)
    return f"{number[:-8]}****{number[-4:]}"
