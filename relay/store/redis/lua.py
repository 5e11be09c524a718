"""The backend's Lua scripts, one file each in lua/. Each starts with comments naming its
ARGV (every script gets the key prefix as ARGV[1] and builds key names from it: one
Redis, no cluster) and says on a "-- Loaded after:" line which shared files (functions
other scripts use too) go before it.

Numbers are passed and stored as the strings Python formatted: Lua would print a float
with only 14 significant digits. A script must not fail half way (Redis keeps what it
already wrote), so each checks before it writes. What a job's attempt decides (delivered,
retry at, dead) is decided in Python and handed in; the scripts apply it atomically.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

#: The scripts the store runs, by name (lua/<name>.lua); helpers.lua and index.lua are
#: only loaded before others.
SCRIPTS = (
    "commit", "claim", "record", "renew", "release", "requeue", "prune", "merge", "resend",
    "index_old", "keep_webhook",
)  # fmt: skip
_LOADED_AFTER = re.compile(r"^-- Loaded after: (.+)$", re.M)


@functools.cache
def script_source(name: str) -> str:
    """lua/<name>.lua with the files it is loaded after before it."""
    text = resources.files("relay.store.redis").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
    found = _LOADED_AFTER.search(text)
    shared = [part.strip().removesuffix(".lua") for part in found.group(1).split(",")] if found else []
    return "".join(script_source(lib) for lib in shared) + text
