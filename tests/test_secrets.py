"""Redaction (hypothesis): a secret does not survive in any form a destination plausibly
echoes (literal, base64 of it or of ``user:password``, percent-encoded, JSON-escaped, hex),
and text without secrets comes back unchanged."""

from __future__ import annotations

import base64
import binascii
import json
import re
import textwrap
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from relay.config import parse_config
from relay.core.secrets import redact

# Derandomized: the same examples on every run, so a rare chance hit cannot flake CI.
PROPERTY = settings(derandomize=True, max_examples=300, deadline=None)

# Secrets: printable text of 4+ characters, some non-ASCII (JSON \u escapes, UTF-8 bytes).
secret_text = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=4, max_size=40
).filter(lambda s: s.strip() == s and s not in "<redacted>")

# Filler around a secret: no '=', ':', '/', '@', '%', '\\', '&', '-', so it cannot make a
# URL with credentials, a 'key=' parameter or an 'xoxb-' token on its own.
filler = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "Cc"), exclude_characters="=:/@%\\&-"),
    max_size=60,
)


def _b64(data: bytes) -> list[str]:
    std, url = base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def oracle_forms(secret: str) -> dict[str, str]:
    """Each way a destination may echo ``secret``, by name; written independently of relay."""
    raw = secret.encode()
    forms = {
        "literal": secret,
        "json": json.dumps(secret)[1:-1],
        "json_utf8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json_slash": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "quote": quote(secret),
        "quote_all": quote(secret, safe=""),
        "quote_plus": quote_plus(secret),
        "quote_lower": _lower_hex(quote(secret, safe="")),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    for name, value in zip(("b64", "b64_nopad", "b64url", "b64url_nopad"), _b64(raw), strict=True):
        forms[name] = value
    forms["b64_quoted"] = quote(forms["b64"], safe="")  # base64 in a query string
    return forms


def decodes_to(text: str, secret: str) -> bool:
    """Whether any run of base64 characters in ``text``, read at any alignment, decodes to
    bytes containing ``secret``: the secret survived inside some base64, whatever came before."""
    raw = secret.encode()
    for run in re.findall(r"[A-Za-z0-9+/_=-]{4,}", text):
        run = run.replace("-", "+").replace("_", "/").rstrip("=")
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[:-1] if len(chunk) % 4 == 1 else chunk  # a lone 6 bits: no byte
            try:
                decoded = base64.b64decode(chunk + "=" * (-len(chunk) % 4))
            except (binascii.Error, ValueError):
                continue
            if raw in decoded:
                return True
    return False


@PROPERTY
@given(secret=secret_text, left=filler, right=filler, data=st.data())
def test_no_encoded_form_of_a_secret_survives(
    secret: str, left: str, right: str, data: st.DataObject
) -> None:
    forms = oracle_forms(secret)
    name = data.draw(st.sampled_from(sorted(forms)), label="form")
    out = redact(f"{left}{forms[name]}{right}", [secret])
    assert forms[name] not in out
    assert secret not in out
    assert not decodes_to(out, secret)
    assert "<redacted>" in out
    # Text without the secret comes back unchanged.
    if not any(form in left + right for form in forms.values()):
        assert redact(left + right, [secret]) == left + right


@PROPERTY
@given(
    user=st.text(st.characters(codec="ascii", categories=("L", "N")), max_size=12),
    password=secret_text,
    left=filler,
    right=filler,
    pair_known=st.booleans(),
    encode=st.sampled_from(["b64", "b64_nopad", "b64url", "b64url_nopad", "b64_quoted"]),
)
def test_basic_auth_credentials_do_not_survive(
    user: str, password: str, left: str, right: str, pair_known: bool, encode: str
) -> None:
    # Config.secrets() lists 'user:password'; a notifier may know only the password: the
    # password's part of base64("user:password") must go either way.
    pair = f"{user}:{password}"
    assume(not any(form in left + right for form in oracle_forms(password).values()))
    # Without the pair, only pieces of 6+ characters are redacted (see relay.core.secrets):
    # the password must cover 5+ bytes to fill one at every alignment.
    assume(pair_known or len(password.encode()) >= 5)
    header = oracle_forms(pair)[encode]
    secrets = [pair, password] if pair_known else [password]
    out = redact(f"{left}Authorization: Basic {header}{right}", secrets)
    assert header not in out
    assert not decodes_to(out, password)
    if pair_known:
        assert out == redact(f"{left}Authorization: Basic <redacted>{right}", [])


def test_short_secrets_and_their_short_encodings_leave_text_alone() -> None:
    # A 3-character secret is a word, not a credential: redacting it would mangle messages.
    assert redact("abc YWJj 616263", ["abc"]) == "abc YWJj 616263"
    # A 4-character one is redacted, and so are its encodings of 6+ characters...
    assert redact("pw9z cHc5eg== cHc5eg 7077397A!", ["pw9z"]) == (
        "<redacted> <redacted> <redacted> <redacted>!"
    )
    # ...but not 4-5 character pieces of base64 that contain it at another alignment:
    # they match ordinary words and ids too often.
    assert redact("dXNlcjpwdzl6", ["pw9z"]) == "dXNlcjpwdzl6"
    assert redact("dXNlcjpwdzl6", ["user:pw9z", "pw9z"]) == "<redacted>"


def test_many_secrets_in_a_long_text() -> None:
    secrets = [f"secret-number-{i:04d}-xyz" for i in range(200)]
    text = "x" * 5000 + base64.b64encode(f"user:{secrets[-1]}".encode()).decode()
    out = redact(text, secrets)
    assert out.startswith("x" * 5000) and not decodes_to(out, secrets[-1])
    assert redact(text, list(secrets)) == out  # a new list with the same secrets
    # A URL and its parts: the longest form wins, nothing is half redacted.
    secret = secrets[0] + "/with+plus"
    url = f"https://example.test/hook?token={quote(secret, safe='')}"
    assert redact(f"posting to {url} failed", [url, secret]) == "posting to <redacted> failed"


config_text: Callable[[str], str] = textwrap.dedent


def test_config_secrets_cover_every_basic_auth_pair_and_header_credential() -> None:
    config = parse_config(
        config_text("""
    server:
      auth: {basic_auth: {username: amuser, password: 'inbound+Pass/1'}}
    route: {receiver: hook}
    receivers:
      - name: hook
        webhook_configs:
          - url: http://127.0.0.1:9/hook
            basic_auth: {username: relay, password: 'outbound Pass&2'}
          - url: http://127.0.0.1:9/other
            headers: {Authorization: 'Bearer hdrTokenValue3', X-Api-Key: 'apiKeyValue4'}
        email_configs:
          - {to: a@example.test, from: r@example.test, smarthost: '127.0.0.1:25',
             auth_username: mailer, auth_password: 'smtpPass5'}
    """),
        source="<test>",
        env={},
    )
    secrets = config.secrets()
    echoed = {
        "server basic": base64.b64encode(b"amuser:inbound+Pass/1").decode(),
        "webhook basic": base64.urlsafe_b64encode(b"relay:outbound Pass&2").decode(),
        "webhook basic, url-encoded": quote(base64.b64encode(b"relay:outbound Pass&2").decode()),
        "bearer header": "Bearer hdrTokenValue3",
        "bearer token alone": "hdrTokenValue3",
        "api key": quote_plus("apiKeyValue4"),
        "smtp AUTH PLAIN": base64.b64encode(b"\0mailer\0smtpPass5").decode(),
    }
    for what, value in echoed.items():
        out = redact(f"echo: [{value}] end", secrets)
        assert out == "echo: [<redacted>] end", what


@PROPERTY
@given(
    words=st.lists(st.text("ab/+%", min_size=1, max_size=8), min_size=1, max_size=12),
    text=st.text("ab/+% x", max_size=80),
)
def test_the_trie_regex_matches_like_a_longest_first_alternation(words: list[str], text: str) -> None:
    # The trie is a fast path; the plain alternation, longest first, is the contract.
    from relay.core.secrets import _trie_regex

    plain = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    trie = _trie_regex(sorted(set(words)))
    assert re.sub(trie, "#", text) == re.sub(plain, "#", text)


url_password = st.text(
    st.characters(codec="ascii", categories=("L", "N"), include_characters="!$&'()*+,;=-._~"),
    min_size=6,
    max_size=30,
)


@PROPERTY
@given(
    scheme=st.sampled_from(["redis", "rediss", "http", "https", "amqp"]),
    user=st.sampled_from(["", "relay", "default"]),
    password=url_password,
    words=filler,
)
def test_a_password_in_a_url_never_survives_with_or_without_a_user(
    scheme: str, user: str, password: str, words: str
) -> None:
    """``redis://:password@host`` (no user, as Redis URLs are written) included: with no
    secret list at all, the userinfo of any URL is redacted."""
    assume(quote(password, safe="") not in words)
    url = f"{scheme}://{user}:{quote(password, safe='')}@db.example:6379/0"
    out = redact(f"{words} {url} {words}")
    assert quote(password, safe="") not in out
    assert f"{scheme}://<redacted>@db.example:6379/0" in out


def test_config_secrets_hold_the_storage_password() -> None:
    config = parse_config(
        config_text("""
    storage: {url: 'redis://:p%40ssRedis9@127.0.0.1:6379/0'}
    route: {receiver: log}
    receivers: [{name: log, log_configs: [{}]}]
    """),
        source="<test>",
        env={},
    )
    assert {"p%40ssRedis9", "p@ssRedis9"} <= set(config.secrets())
    assert redact("AUTH p@ssRedis9 failed", config.secrets()) == "AUTH <redacted> failed"


# Pieces that make and break the URL-part patterns' matches: names before '=', schemes
# and userinfo, bot ids and tokens, 'xox' tokens, case and Unicode case folds (K is the
# Kelvin sign, ſ a long s: re's IGNORECASE folds them to k and s), CJK, quotes, spaces.
URL_PIECES = [
    "key",
    "KEY",
    "Token",
    "access_token",
    "corpsecret",
    "secret",
    "password",
    "sig",
    "signature",
    "api",
    "monkey",
    "ſecret",
    "\u212aey",
    "=",
    "==",
    "&",
    "?",
    " ",
    "\n",
    '"',
    "'",
    "http",
    "redis",
    "://",
    ":",
    "@",
    "/",
    "user",
    "p:w",
    "12345",
    "1234567890123456789012",
    "%3A",
    "%3a",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "_-",
    "xox",
    "xoxb-",
    "b-1",
    "告警",
    "é",
]


def redact_url_parts_plainly(text: str) -> str:
    """What redact did before it looked for anchors: each pattern's own sub."""
    from relay.core import secrets

    text = secrets._URL_SECRET_PARAMS.sub(r"\1<redacted>", text)
    text = secrets._URL_USERINFO.sub(r"\1<redacted>@", text)
    text = secrets._SLACK_HOOK.sub(r"\1<redacted>", text)
    text = secrets._TELEGRAM_TOKEN.sub(r"\1<redacted>", text)
    return secrets._BEARERISH.sub(r"\1<redacted>", text)


@settings(derandomize=True, max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(URL_PIECES), max_size=40))
def test_finding_url_secrets_from_anchors_matches_each_patterns_own_sub(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert redact(text) == redact_url_parts_plainly(text)


def test_finding_url_secrets_from_anchors_in_messages_as_sent() -> None:
    from tests.helpers.webhooks import alert, webhook

    body = json.dumps(
        webhook(alert(summary="see https://u:pw@host/x?token=abc&sig=1 bot 123456789:" + "A" * 35)),
        ensure_ascii=False,
    )
    assert redact(body) == redact_url_parts_plainly(body) != body


# Where a match ends just before the next name (the search for a name must start after
# it), and tokens after ':' and after '%3A' in either order (their two scans are merged).
ADJACENT_CASES = [
    "key=a&token=b",
    "sig=1&signature=2&key=3",
    "access_token=x&key=y token=z",
    "https://h/?password=p&secret=s&corpsecret=c",
    "bot 123456789%3A" + "A" * 35 + " then 987654321:" + "B" * 35,
    "bot 123456789:" + "A" * 35 + " then 987654321%3a" + "B" * 35 + " and 55555:" + "C" * 31,
    '{"u":"https://x/bot123456:' + "t" * 35 + '/send?token=abc&key=d"}',
]


@pytest.mark.parametrize("text", ADJACENT_CASES)
def test_url_secrets_next_to_each_other_match_each_patterns_own_sub(text: str) -> None:
    assert redact(text) == redact_url_parts_plainly(text) != text


@settings(derandomize=True, max_examples=2000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["key", "token", "sig", "signature", "=", "&", "a", "b1", "%3A", ":", "123456", "Z" * 30]
        ),
        max_size=60,
    )
)
def test_dense_url_secrets_match_each_patterns_own_sub(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert redact(text) == redact_url_parts_plainly(text)


@pytest.mark.parametrize("fold", ["ſ", "\u212a"])
def test_a_token_starting_with_a_case_folded_letter_is_found_as_the_pattern_finds_it(fold: str) -> None:
    # Under re.I the token's [A-Za-z] takes 'ſ' (long s) and 'K' (Kelvin sign): the scan
    # for the ':' before a token must fold case as the token pattern does.
    for text in (f"bot 12345:{fold}" + "A" * 35, f"bot 12345%3A{fold}" + "A" * 35):
        assert redact(text) == redact_url_parts_plainly(text) != text
