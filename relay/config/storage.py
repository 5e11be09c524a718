"""``storage.url``: which backend it names, and a Redis URL read into what redis-py takes
(the URL without relay's own options, the key prefix, client options; for Sentinel, the
sentinels and the service). The store opens what this parses; check-config reports a bad
URL without connecting, naming the part that is wrong."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

SQLITE_SCHEMES = ("sqlite:///",)
SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", *SENTINEL_SCHEMES)
DEFAULT_PREFIX = "relay:"
DEFAULT_SENTINEL_PORT = 26379
#: What storage.url may be, for messages.
EXPECTED = (
    "expected sqlite:///path, redis://host:6379/0, rediss://... (TLS), unix:///path/to/redis.sock"
    " or redis+sentinel://host1:26379,host2:26379/<service name> (Redis Sentinel)"
)
_USERINFO = re.compile(r"^([^:@/]*):[^@]*@")

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
class SentinelTarget:
    """A primary found through Redis Sentinel: the sentinels to ask, the service (the
    name the sentinels monitor), and how to talk to the primary they name."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False


@dataclass(frozen=True)
class RedisURL:
    url: str  # as redis-py takes it: without relay's own query options
    prefix: str = DEFAULT_PREFIX
    options: dict[str, Any] = field(default_factory=dict)
    sentinel: SentinelTarget | None = None


@dataclass(frozen=True)
class SQLiteURL:
    path: str  # as written: relative to the working directory, or absolute
    synchronous: str = "full"
    busy_timeout: float = 5.0


#: ``?synchronous=``: FULL fsyncs every commit (a 200 survives power loss); NORMAL
#: leaves the last commits to the OS (they survive a crash of relay, not of the host).
SQLITE_SYNCHRONOUS = ("full", "normal")


def parse_sqlite_url(url: str) -> SQLiteURL:
    """A ``sqlite:///path?synchronous=full&busy_timeout=5`` URL checked and split; a
    ValueError names the part that is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
        raise ValueError(
            f"storage.url {url!r}: expected sqlite:///relative/path.db or sqlite:////abs/path.db"
        )
    path = parts.path[1:]
    if not path or path == ":memory:":
        raise ValueError(f"storage.url {url!r}: a database file path is required")
    synchronous, busy_timeout = "full", 5.0
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "synchronous":
            synchronous = value.lower()
            if synchronous not in SQLITE_SYNCHRONOUS:
                raise ValueError(f"storage.url {url!r}: synchronous must be full or normal, not {value!r}")
        elif name == "busy_timeout":
            try:
                busy_timeout = float(value)
            except ValueError:
                busy_timeout = -1.0
            if not busy_timeout >= 0 or busy_timeout == float("inf"):
                raise ValueError(f"storage.url {url!r}: busy_timeout must be seconds (5, 0.5), not {value!r}")
        else:
            raise ValueError(
                f"storage.url {url!r}: unknown option {name!r} (sqlite takes synchronous and busy_timeout)"
            )
    return SQLiteURL(path, synchronous, busy_timeout)


def storage_kind(url: str) -> Literal["sqlite", "redis"]:
    """The backend ``url`` names; ValueError for any other scheme."""
    if url.startswith(SQLITE_SCHEMES):
        return "sqlite"
    if url.startswith(REDIS_SCHEMES):
        return "redis"
    scheme = url.split("://", 1)[0] if "://" in url else url[:20]
    raise ValueError(f"unsupported scheme {scheme!r}: {EXPECTED}")


def parse_redis_url(url: str) -> RedisURL:
    """A ``redis://``, ``rediss://``, ``unix://`` or ``redis[s]+sentinel://`` URL checked
    and split; a ValueError names the problem, with any password masked."""
    if url.startswith(SENTINEL_SCHEMES):
        return _parse_sentinel_url(url)
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
    prefix, options, passthrough = _options(url, parts.query, unix=parts.scheme == "unix")
    base = urlunsplit(parts._replace(query=urlencode(passthrough)))
    return RedisURL(base, prefix, options)


def _options(
    url: str, query: str, *, unix: bool = False
) -> tuple[str, dict[str, Any], list[tuple[str, str]]]:
    """relay's ``prefix``, redis-py's client options, and what stays in the URL."""
    prefix = DEFAULT_PREFIX
    options: dict[str, Any] = {}
    passthrough: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "prefix":
            prefix = value
        elif name == "db" and unix:
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
    return prefix, options, passthrough


def _parse_sentinel_url(url: str) -> RedisURL:
    """``redis+sentinel://[user:password@]host1:26379,host2:26379/<service>[/<db>]``: the
    password is the primary's (the sentinels' own is ``storage.sentinel_password``)."""
    shown = masked_url(url)
    scheme, rest = url.split("://", 1)
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    if not hosts:
        raise ValueError(
            f"storage.url {shown!r}: no sentinels (redis+sentinel://host1:26379,host2:26379/mymaster)"
        )
    sentinels = []
    for n, host in enumerate(hosts.split(","), 1):
        name, port = _host_port(host)
        if not name:
            raise ValueError(f"storage.url {shown!r}: sentinel {n} has no host")
        if port is None or not 0 < port < 65536:
            raise ValueError(f"storage.url {shown!r}: sentinel {n} ({host!r}): the port is not a number")
        sentinels.append((name, port))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError(
            f"storage.url {shown!r}: the service name is missing: the name in the sentinels'"
            " 'sentinel monitor <name> ...' (redis+sentinel://host:26379/mymaster)"
        )
    if db and not db.isdigit():
        raise ValueError(
            f"storage.url {shown!r}: the database after the service must be a number (/mymaster/0)"
        )
    prefix, options, _ = _options(url, query)
    target = SentinelTarget(
        tuple(sentinels), unquote(service), int(db or 0), username, password, scheme.startswith("rediss")
    )
    return RedisURL(url.split("?", 1)[0], prefix, options, target)


def _host_port(text: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port`` or ``host`` (the sentinel's default port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    return host, int(port) if port.isdigit() else None


def masked_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return scheme + sep + _USERINFO.sub(r"\1:***@", rest, count=1)
