"""``storage.url``: which backend it names, and a Redis URL read into what redis-py takes
(the URL without relay's own options, the key prefix, client options). The store opens
what this parses; check-config reports a bad URL without connecting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

SQLITE_SCHEMES = ("sqlite:///",)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_PREFIX = "relay:"

# redis-py options accepted in the URL's query string, besides our own ``prefix``.
CLIENT_OPTIONS: dict[str, Callable[[str], Any]] = {
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "health_check_interval": int,
    "client_name": str,
    "ssl_ca_certs": str,
    "ssl_ca_path": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_cert_reqs": str,
    "ssl_check_hostname": lambda v: v.lower() in ("1", "true", "yes"),
}


@dataclass(frozen=True)
class RedisURL:
    url: str  # as redis-py takes it: without relay's own query options
    prefix: str = DEFAULT_PREFIX
    options: dict[str, Any] = field(default_factory=dict)


def storage_kind(url: str) -> Literal["sqlite", "redis"]:
    """The backend ``url`` names; ValueError for any other scheme."""
    if url.startswith(SQLITE_SCHEMES):
        return "sqlite"
    if url.startswith(REDIS_SCHEMES):
        return "redis"
    raise ValueError(f"unsupported storage url scheme: {url.split(':', 1)[0]!r}")


def parse_redis_url(url: str) -> RedisURL:
    """A ``redis://``, ``rediss://`` or ``unix://`` URL checked and split; a ValueError
    names the problem, with any password masked."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"storage.url {masked_url(url)!r}: expected redis://, rediss:// or unix://")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"storage.url {masked_url(url)!r}: a host is required (redis://host:6379/0)")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError(f"storage.url {masked_url(url)!r}: a socket path is required")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"storage.url {masked_url(url)!r}: the port is not a number") from None
    db = parts.path.strip("/") if parts.scheme != "unix" else ""
    if db and not db.isdigit():
        raise ValueError(f"storage.url {masked_url(url)!r}: the database must be a number (/0)")
    prefix = DEFAULT_PREFIX
    options: dict[str, Any] = {}
    passthrough: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            prefix = value
        elif name == "db" and parts.scheme == "unix":
            if not value.isdigit():
                raise ValueError(f"storage.url {masked_url(url)!r}: db must be a number")
            passthrough.append((name, value))
        elif name in CLIENT_OPTIONS:
            try:
                options[name] = CLIENT_OPTIONS[name](value)
            except ValueError:
                raise ValueError(
                    f"storage.url {masked_url(url)!r}: bad value for {name}: {value!r}"
                ) from None
        else:
            raise ValueError(f"storage.url {masked_url(url)!r}: unknown option {name!r}")
    base = urlunsplit(parts._replace(query=urlencode(passthrough)))
    base = urlunsplit(parts._replace(query=urlencode(passthrough)))
    return RedisURL(base, prefix, options)


def masked_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = quote(parts.username or "", safe="")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
