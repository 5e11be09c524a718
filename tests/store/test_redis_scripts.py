"""The Redis backend's Lua files: each script says what it takes, every file is used, and
each one as loaded (shared files first) compiles on a real redis-server."""

from __future__ import annotations

import re
from pathlib import Path

import redis.asyncio as aioredis

from relay.store.redis.lua import SCRIPTS, script_source
from tests.helpers.redis_server import RedisServer

LUA = Path(__file__).resolve().parents[2] / "relay" / "store" / "redis" / "lua"


def _header(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.startswith("--"))


def test_every_script_names_its_keys_and_argv() -> None:
    for name in SCRIPTS:
        header = _header((LUA / f"{name}.lua").read_text(encoding="utf-8"))
        assert "KEYS" in header and "ARGV" in header, f"{name}.lua: say what KEYS and ARGV hold"


def test_every_lua_file_is_a_script_or_loaded_before_one() -> None:
    loaded_after = {
        shared.strip().removesuffix(".lua")
        for path in LUA.glob("*.lua")
        for line in re.findall(r"^-- Loaded after: (.+)$", path.read_text(encoding="utf-8"), re.M)
        for shared in line.split(",")
    }
    files = {path.stem for path in LUA.glob("*.lua")}
    assert files == set(SCRIPTS) | loaded_after
    assert loaded_after <= files


async def test_every_script_compiles_on_redis(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        for name in SCRIPTS:
            source = script_source(name)
            assert source.count("local function unlease") <= 1, name
            assert await client.script_load(source), name
    finally:
        await client.aclose()
