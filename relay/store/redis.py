"""The Redis backend: several relay replicas share one Redis (high availability).

``storage.url``: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` for TLS,
``unix:///path/redis.sock?db=0``. Query options: ``prefix`` (key namespace, default
``relay:``), ``socket_timeout`` and ``socket_connect_timeout`` (seconds, defaults 5
and 2), ``health_check_interval``, ``client_name`` and the ``ssl_*`` options of
redis-py for ``rediss://`` (``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
``ssl_cert_reqs``, ``ssl_check_hostname``).

Layout (every key starts with the prefix; docs/ha.md has the full picture):

* ``g:<group key>``: the group state as JSON. ``groups:due`` (zset, score
  ``next_flush_at``) and ``groups:resolved`` (zset of groups without a firing alert:
  none left, or all resolved; score ``updated_at``) index it for the flusher and for
  pruning.
* ``j:<job id>``: a job as a hash (notification, status, attempts, lease).
  ``jobs:all``, ``jobs:status:<status>`` and ``jobs:receiver:<name>`` (zsets, score
  ``created_at``) serve the delivery log and the counts; ``finished`` (delivered jobs by
  ``finished_at``) serves pruning.
* ``due:<integration>``: pending jobs of one integration by ``next_attempt_at`` (the
  retry schedule); ``integrations`` is the set of integrations that have one.
* ``stream``: the hand-off stream with the consumer group ``relay``. Claiming a due job
  adds an entry and reads it with ``XREADGROUP`` as the claiming replica (the consumer),
  so the group's pending-entries list holds exactly the jobs being delivered and who
  holds each. ``leases`` (zset, score ``lease_until``) times the leases; an expired
  lease is taken over with ``XCLAIM``, which moves the entry to the new consumer.
  Finishing or releasing a job acknowledges and deletes its entry.
* ``ref:<key>``: message references, expiring by Redis TTL.

Atomicity: :meth:`RedisStore.apply` reads the groups (one ``MGET``), runs the
transitions in Python and commits the new states, the log and the new jobs with one Lua
script that first checks that every group still is what the transitions saw (an
optimistic check-and-set, like ``WATCH``/``MULTI`` but one round trip). When another
replica committed in between, nothing is written and the transitions run again on what
it committed. When no transition changes anything (a re-send, an HA pair's second copy),
the ``MGET`` is all. Everything about jobs runs in Lua scripts too (atomic on the
server). Lease times are the callers' clocks (``now`` in the interface), so replicas'
clocks must agree to well within a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from relay.config.storage import DEFAULT_PREFIX, masked_url, parse_redis_url
from relay.core.errors import StoreUnavailable
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import JOB_STATUSES, Attempt, Job, JobStatus, NewJob, alertnames_of
from relay.store.base import (
    STATS_BUCKET,
    STATS_KEEP,
    ClaimRoom,
    IntegrationStats,
    JobPage,
    JobQuery,
    KeptWebhook,
    Store,
    hour_and_day_buckets,
    stats_bucket,
)

logger = logging.getLogger("relay.store.redis")

# 2: groups:resolved replaces groups:empty (all-resolved groups are pruned)
# 3: the console's indexes (jobs:integration|group|alertname, retrying, open, dead,
#    groups:all) and counters; jobs' digest_id (merged into a storm digest)
SCHEMA_VERSION = 3
UNFINISHED_JOBS_SCAN_LIMIT = 10_000  # prune checks groups against at most this many open jobs
CONSUMER_GROUP = "relay"
# How long apply() keeps retrying when other writers keep changing the same groups.
CONTENTION_LIMIT = 5.0
PRUNE_BATCH = 500
# The delivery log reads its index in batches of LOG_BATCH and at most LOG_SCAN_LIMIT
# entries per page (filters checked job by job; docs/architecture.md).
LOG_BATCH = 200
LOG_SCAN_LIMIT = 5000  # keys deleted per script run, so pruning never blocks Redis for long
LOCK_STRIPES = 64

# -- Lua ----------------------------------------------------------------------------------
# Scripts get the key prefix as ARGV[1] and build key names from it (one Redis, no
# cluster). Numbers are passed and stored as the strings Python formatted: Lua would
# print a float with only 14 significant digits. A script must not fail half way (Redis
# keeps what it already wrote), so each checks before it writes.

# apply(): the groups' current values must still hash to what the transitions were run
# on (KEYS[i] <-> ARGV[i], '' = absent); then the commands follow as (argc, args...).
# Comparing contents, not versions, is enough: a transition depends only on the state.
_COMMIT = """
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    if redis.sha1hex(value) ~= ARGV[i] then return 0 end
  elseif ARGV[i] ~= '' then
    return 0
  end
end
local i = #KEYS + 1
while i <= #ARGV do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
end
return 1
"""

# claim_jobs(): ARGV[6] is the room of an integration not listed after it, then come
# (integration, room) pairs: ClaimRoom decides in Python, the script only applies it.
_CLAIM = """
local P, owner, now_s, limit, until_s = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local STREAM = P .. 'stream'
local default_room = tonumber(ARGV[6])
local rooms = {}
for i = 7, #ARGV, 2 do rooms[ARGV[i]] = tonumber(ARGV[i + 1]) end
local function room_of(integration)
  local room = rooms[integration]
  if room == nil then return default_room end
  return room
end

-- {id, next_attempt_at, created_at, integration, created_at as stored, lease ran out}
local cands = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. now_s,
                               'LIMIT', 0, 1000)) do
  local f = redis.call('HMGET', P .. 'j:' .. id, 'integration', 'next_attempt_at', 'created_at',
                       'status')
  if not f[1] or f[4] ~= 'running' then
    redis.call('ZREM', P .. 'leases', id)
  elseif room_of(f[1]) > 0 then
    table.insert(cands, {id, tonumber(f[2]), tonumber(f[3]), f[1], f[3], true})
  end
end
for _, integration in ipairs(redis.call('SMEMBERS', P .. 'integrations')) do
  local room = room_of(integration)
  if room > 0 then
    local due = P .. 'due:' .. integration
    local rows = redis.call('ZRANGEBYSCORE', due, '-inf', now_s, 'WITHSCORES', 'LIMIT', 0, room)
    if #rows == 0 and redis.call('EXISTS', due) == 0 then
      redis.call('SREM', P .. 'integrations', integration)
    end
    for i = 1, #rows, 2 do
      local created = redis.call('HGET', P .. 'j:' .. rows[i], 'created_at')
      if created then
        table.insert(cands, {rows[i], tonumber(rows[i + 1]), tonumber(created), integration,
                             created, false})
      else
        redis.call('ZREM', due, rows[i])
      end
    end
  end
end
if #cands == 0 then return {} end
table.sort(cands, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  if a[3] ~= b[3] then return a[3] < b[3] end
  return a[1] < b[1]
end)
-- Oldest first, each integration within its room (leases that ran out count too).
local chosen, taken = {}, {}
for _, c in ipairs(cands) do
  if #chosen == limit then break end
  local n = taken[c[4]] or 0
  if n < room_of(c[4]) then
    taken[c[4]] = n + 1
    table.insert(chosen, c)
  end
end

-- The consumer group exists from the first claim on ('0': a group re-created by hand
-- also sees entries already there; the XREADGROUP below drops those orphans).
redis.pcall('XGROUP', 'CREATE', STREAM, 'relay', '0', 'MKSTREAM')
local added = {}
local fresh = 0
local ids = {}
for _, c in ipairs(chosen) do
  local id = c[1]
  local key = P .. 'j:' .. id
  local entry = nil
  if c[6] then
    -- A lease ran out: take the stream entry over from the consumer that held it.
    local old = redis.call('HGET', key, 'entry')
    if old and old ~= '' then
      local moved = redis.call('XCLAIM', STREAM, 'relay', owner, 0, old)
      if #moved == 1 and moved[1] then entry = old end
    end
  else
    redis.call('ZREM', P .. 'due:' .. c[4], id)
    redis.call('ZREM', P .. 'jobs:status:pending', id)
    redis.call('ZREM', P .. 'jobs:status:retrying', id)
    redis.call('ZADD', P .. 'jobs:status:running', c[5], id)
  end
  if not entry then
    entry = redis.call('XADD', STREAM, '*', 'job', id)
    added[entry] = true
    fresh = fresh + 1
  end
  redis.call('HSET', key, 'status', 'running', 'owner', owner, 'lease_until', until_s,
             'entry', entry)
  redis.call('ZADD', P .. 'leases', until_s, id)
  table.insert(ids, id)
end
if fresh > 0 then
  local got = redis.call('XREADGROUP', 'GROUP', 'relay', owner, 'STREAMS', STREAM, '>')
  if got then
    for _, e in ipairs(got[1][2]) do
      if not added[e[1]] then
        redis.call('XACK', STREAM, 'relay', e[1])
        redis.call('XDEL', STREAM, e[1])
      end
    end
  end
end
local out = {}
for _, id in ipairs(ids) do table.insert(out, redis.call('HGETALL', P .. 'j:' .. id)) end
return out
"""

# Shared by the scripts that take a job off the stream and move it between statuses.
_HELPERS = """
local function unlease(P, key, id)
  local entry = redis.call('HGET', key, 'entry')
  if entry and entry ~= '' then
    redis.call('XACK', P .. 'stream', 'relay', entry)
    redis.call('XDEL', P .. 'stream', entry)
  end
  redis.call('ZREM', P .. 'leases', id)
  redis.call('HSET', key, 'owner', '', 'lease_until', '', 'entry', '')
end
local function move(P, id, from, to, created)
  if from ~= to then
    redis.call('ZREM', P .. 'jobs:status:' .. from, id)
    redis.call('ZADD', P .. 'jobs:status:' .. to, created, id)
  end
end
local function schedule(P, id, integration, due)
  redis.call('ZADD', P .. 'due:' .. integration, due, id)
  redis.call('SADD', P .. 'integrations', integration)
end
local function append(list, item)
  if list == '[]' then return '[' .. item .. ']' end
  return string.sub(list, 1, -2) .. ',' .. item .. ']'
end
"""

_RECORD = _HELPERS + """
-- ARGV: prefix, id, attempt JSON, outcome, at, error, next_attempt_at ('' = at),
--       stats bucket, seconds the bucket is kept, last-outcome JSON
local P, id, attempt, outcome, at, err, nxt = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local key = P .. 'j:' .. id
local f = redis.call('HMGET', key, 'status', 'attempts', 'created_at', 'integration')
if not f[1] then return 0 end
local status, created, integration = f[1], f[3], f[4]
local attempts = append(f[2], attempt)
-- the integration's health: a counter in this bucket, and its latest outcome
local bucket = P .. 'stats:' .. ARGV[8]
if outcome == 'delivered' then
  redis.call('HINCRBY', bucket, 'd:' .. integration, 1)
else
  redis.call('HINCRBY', bucket, 'f:' .. integration, 1)
end
redis.call('EXPIRE', bucket, ARGV[9])
local last = redis.call('HGET', P .. 'last', integration)
if not last or tonumber(cjson.decode(last)['at']) <= tonumber(at) then
  redis.call('HSET', P .. 'last', integration, ARGV[10])
end
if status == 'delivered' then
  -- another replica delivered it first (a lease ran out meanwhile): it stays delivered
  redis.call('HSET', key, 'attempts', attempts)
  return 1
end
unlease(P, key, id)
redis.call('ZREM', P .. 'due:' .. integration, id)
if outcome == 'delivered' then
  redis.call('HSET', key, 'status', 'delivered', 'attempts', attempts, 'last_error', '',
             'finished_at', at)
  redis.call('ZADD', P .. 'finished', at, id)
  move(P, id, status, 'delivered', created)
  redis.call('ZREM', P .. 'jobs:status:retrying', id)
  redis.call('ZREM', P .. 'open:' .. integration, id)
elseif outcome == 'dead' then
  redis.call('HSET', key, 'status', 'dead', 'attempts', attempts, 'last_error', err,
             'finished_at', at)
  move(P, id, status, 'dead', created)
  redis.call('ZREM', P .. 'jobs:status:retrying', id)
  redis.call('ZREM', P .. 'open:' .. integration, id)
  redis.call('ZADD', P .. 'dead:' .. integration, created, id)
else
  if nxt == '' then nxt = at end
  redis.call('HSET', key, 'status', 'pending', 'attempts', attempts, 'last_error', err,
             'finished_at', '', 'next_attempt_at', nxt)
  schedule(P, id, integration, nxt)
  move(P, id, status, 'pending', created)
  redis.call('ZADD', P .. 'jobs:status:retrying', created, id)
end
return 1
"""

_RENEW = """
-- ARGV: prefix, owner, until, ids...
local P, owner, until_s = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = P .. 'j:' .. id
  local f = redis.call('HMGET', key, 'status', 'owner', 'entry')
  if f[1] == 'running' and f[2] == owner then
    redis.call('HSET', key, 'lease_until', until_s)
    redis.call('ZADD', P .. 'leases', until_s, id)
    if f[3] and f[3] ~= '' then
      -- claiming it to itself resets the entry's idle time, so XPENDING shows it alive
      redis.call('XCLAIM', P .. 'stream', 'relay', owner, 0, f[3], 'JUSTID')
    end
  end
end
return 1
"""

_RELEASE = _HELPERS + """
-- ARGV: prefix, owner, ids...
local P, owner = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = P .. 'j:' .. id
  local f = redis.call('HMGET', key, 'status', 'owner', 'integration', 'next_attempt_at',
                       'created_at', 'attempts')
  if f[1] == 'running' and f[2] == owner then
    unlease(P, key, id)
    redis.call('HSET', key, 'status', 'pending')
    schedule(P, id, f[3], f[4])
    move(P, id, 'running', 'pending', f[5])
    if f[6] and f[6] ~= '[]' then
      redis.call('ZADD', P .. 'jobs:status:retrying', f[5], id)
    end
  end
end
return 1
"""

_REQUEUE = _HELPERS + """
-- ARGV: prefix, id, now, marker attempt JSON, action JSON ('' = none)
local P, id, now_s, marker, action = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = P .. 'j:' .. id
local f = redis.call('HMGET', key, 'status', 'attempts', 'integration', 'created_at', 'actions')
if f[1] ~= 'dead' then return 0 end
redis.call('HSET', key, 'status', 'pending', 'next_attempt_at', now_s, 'finished_at', '',
           'attempts', append(f[2], marker))
if action ~= '' then
  redis.call('HSET', key, 'actions', append(f[5] or '[]', action))
end
schedule(P, id, f[3], now_s)
move(P, id, 'dead', 'pending', f[4])
redis.call('ZADD', P .. 'jobs:status:retrying', f[4], id)
redis.call('ZREM', P .. 'dead:' .. f[3], id)
redis.call('ZADD', P .. 'open:' .. f[3], f[4], id)
return 1
"""

# The job's indexes, shared by apply (through Python), resend and the layout upgrade.
_INDEX = """
local function index_job(P, id, created, receiver, integration, group_key, alertnames)
  redis.call('ZADD', P .. 'jobs:all', created, id)
  redis.call('ZADD', P .. 'jobs:receiver:' .. receiver, created, id)
  redis.call('ZADD', P .. 'jobs:integration:' .. integration, created, id)
  redis.call('ZADD', P .. 'jobs:group:' .. group_key, created, id)
  for name in string.gmatch(alertnames or '', '[^\\n]+') do
    redis.call('ZADD', P .. 'jobs:alertname:' .. name, created, id)
  end
  redis.call('SADD', P .. 'console:integrations', integration)
end
local function unindex_job(P, id, receiver, integration, group_key, alertnames)
  redis.call('ZREM', P .. 'jobs:all', id)
  redis.call('ZREM', P .. 'jobs:receiver:' .. receiver, id)
  redis.call('ZREM', P .. 'jobs:integration:' .. integration, id)
  redis.call('ZREM', P .. 'jobs:group:' .. group_key, id)
  for name in string.gmatch(alertnames or '', '[^\\n]+') do
    redis.call('ZREM', P .. 'jobs:alertname:' .. name, id)
  end
end
"""

# merge_into_digest(): every merged job must still be leased to ``owner``; then each is
# delivered as part of the digest, and the digest becomes a pending job like any other
# (the same hash fields and indexes as a job committed by apply()).
_MERGE = _HELPERS + _INDEX + """
-- ARGV: prefix, owner, at, attempt JSON, digest id, then the digest job's receiver,
-- integration, group_key, payload, created_at, alertnames, then the merged job ids.
local P, owner, at, attempt, digest = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local receiver, integration, group_key, payload, created = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local alertnames = ARGV[11]
for i = 12, #ARGV do
  local f = redis.call('HMGET', P .. 'j:' .. ARGV[i], 'status', 'owner')
  if f[1] ~= 'running' or f[2] ~= owner then return 0 end
end
for i = 12, #ARGV do
  local id = ARGV[i]
  local key = P .. 'j:' .. id
  local f = redis.call('HMGET', key, 'attempts', 'created_at', 'integration')
  unlease(P, key, id)
  redis.call('HSET', key, 'status', 'delivered', 'attempts', append(f[1], attempt),
             'last_error', '', 'finished_at', at, 'digest_id', digest)
  redis.call('ZADD', P .. 'finished', at, id)
  move(P, id, 'running', 'delivered', f[2])
  redis.call('ZREM', P .. 'jobs:status:retrying', id)
  redis.call('ZREM', P .. 'open:' .. f[3], id)
end
redis.call('HSET', P .. 'j:' .. digest, 'id', digest, 'receiver', receiver,
           'integration', integration, 'group_key', group_key, 'payload', payload,
           'status', 'pending', 'created_at', created, 'next_attempt_at', created,
           'attempts', '[]', 'last_error', '', 'finished_at', '', 'owner', '',
           'lease_until', '', 'entry', '', 'actions', '[]', 'alertnames', alertnames)
index_job(P, digest, created, receiver, integration, group_key, alertnames)
redis.call('ZADD', P .. 'jobs:status:pending', created, digest)
redis.call('ZADD', P .. 'open:' .. integration, created, digest)
schedule(P, digest, integration, created)
return 1
"""

_RESEND = _HELPERS + _INDEX + """
-- ARGV: prefix, original id, new id, now, action on the original, action on the new one
local P, id, new_id, now_s = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'j:' .. id
local f = redis.call('HMGET', key, 'status', 'receiver', 'integration', 'group_key', 'payload',
                     'alertnames', 'actions')
if f[1] ~= 'delivered' then return 0 end
redis.call('HSET', key, 'actions', append(f[7] or '[]', ARGV[5]))
redis.call('HSET', P .. 'j:' .. new_id, 'id', new_id, 'receiver', f[2], 'integration', f[3],
           'group_key', f[4], 'payload', f[5], 'alertnames', f[6] or '', 'status', 'pending',
           'created_at', now_s, 'next_attempt_at', now_s, 'attempts', '[]', 'last_error', '',
           'finished_at', '', 'owner', '', 'lease_until', '', 'entry', '',
           'actions', '[' .. ARGV[6] .. ']')
index_job(P, new_id, now_s, f[2], f[3], f[4], f[6])
redis.call('ZADD', P .. 'jobs:status:pending', now_s, new_id)
redis.call('ZADD', P .. 'open:' .. f[3], now_s, new_id)
schedule(P, new_id, f[3], now_s)
return 1
"""

# Layout 2 -> 3: the console's indexes for jobs stored before them (ARGV: prefix, ids...).
_INDEX_OLD = _INDEX + """
local P = ARGV[1]
for i = 2, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', P .. 'j:' .. id, 'status', 'receiver', 'integration',
                       'group_key', 'alertnames', 'created_at', 'attempts')
  if f[1] then
    index_job(P, id, f[6], f[2], f[3], f[4], f[5])
    if f[1] == 'pending' or f[1] == 'running' then
      redis.call('ZADD', P .. 'open:' .. f[3], f[6], id)
    elseif f[1] == 'dead' then
      redis.call('ZADD', P .. 'dead:' .. f[3], f[6], id)
    end
    if f[1] == 'pending' and f[7] ~= '[]' then
      redis.call('ZADD', P .. 'jobs:status:retrying', f[6], id)
    end
  end
end
return 1
"""

# Keep a received webhook (ARGV: prefix, entry '<bytes> <json>', keep, keep_bytes): the
# newest first; the first that crosses either bound and every older one go.
_KEEP_WEBHOOK = """
local P, entry, keep, keep_bytes = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local list = P .. 'webhooks'
local size = tonumber(string.match(entry, '^(%d+) '))
if keep > 0 and size <= keep_bytes then redis.call('LPUSH', list, entry) end
local total = 0
local items = redis.call('LRANGE', list, 0, keep)
for i, item in ipairs(items) do
  total = total + tonumber(string.match(item, '^(%d+) '))
  if i > keep or total > keep_bytes then
    if i == 1 then redis.call('DEL', list) else redis.call('LTRIM', list, 0, i - 2) end
    return 1
  end
end
return 1
"""

_PRUNE = _INDEX + """
-- ARGV: prefix, delivered-before, resolved-groups-before, batch, unfinished-jobs scan limit
local P, jobs_before, groups_before, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local scan_limit = tonumber(ARGV[5])
local removed = 0
local jobs = redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', '(' .. jobs_before,
                        'LIMIT', 0, batch)
for _, id in ipairs(jobs) do
  local key = P .. 'j:' .. id
  local f = redis.call('HMGET', key, 'status', 'receiver', 'integration', 'group_key',
                       'alertnames')
  redis.call('ZREM', P .. 'finished', id)
  if f[1] == 'delivered' then
    redis.call('DEL', key)
    redis.call('ZREM', P .. 'jobs:status:delivered', id)
    unindex_job(P, id, f[2], f[3], f[4], f[5])
    removed = removed + 1
  end
end
local groups = redis.call('ZRANGEBYSCORE', P .. 'groups:resolved', '-inf', '(' .. groups_before,
                          'LIMIT', 0, batch)
-- A group whose notification is still pending or being delivered keeps its log.
local busy = {}
if #groups > 0 then
  local open = redis.call('ZCARD', P .. 'jobs:status:pending')
             + redis.call('ZCARD', P .. 'jobs:status:running')
  if open > scan_limit then
    groups = {}  -- a backlog this large: prune groups another time
  else
    for _, status in ipairs({'pending', 'running'}) do
      for _, id in ipairs(redis.call('ZRANGE', P .. 'jobs:status:' .. status, 0, -1)) do
        local gk = redis.call('HGET', P .. 'j:' .. id, 'group_key')
        if gk then busy[gk] = true end
      end
    end
  end
end
local groups_removed = 0
for _, gk in ipairs(groups) do
  if not busy[gk] then
    redis.call('DEL', P .. 'g:' .. gk)
    redis.call('ZREM', P .. 'groups:resolved', gk)
    redis.call('ZREM', P .. 'groups:due', gk)
    redis.call('ZREM', P .. 'groups:all', gk)
    groups_removed = groups_removed + 1
  end
end
local more = 0
if #jobs == batch or (#groups == batch and groups_removed > 0) then more = 1 end
return {removed + groups_removed, more}
"""


def _passes(job: Job, query: JobQuery) -> bool:
    """Whether ``job`` passes every filter of ``query`` (the walked index passes one)."""
    if query.status == "retrying":
        if not job.retrying:
            return False
    elif query.status is not None and job.status != query.status:
        return False
    return (
        (query.receiver is None or job.receiver == query.receiver)
        and (query.integration is None or job.integration == query.integration)
        and (query.group_key is None or job.group_key == query.group_key)
        and (query.alertname is None or query.alertname in alertnames_of(job.payload))
    )


def _num(value: float) -> str:
    """A float as Redis should store it: repr() round-trips exactly."""
    return repr(float(value))


def _job(fields: dict[str, str]) -> Job:
    finished = fields.get("finished_at", "")
    return Job(
        id=fields["id"],
        receiver=fields["receiver"],
        integration=fields["integration"],
        group_key=fields["group_key"],
        payload=orjson.loads(fields["payload"]),
        status=cast(JobStatus, fields["status"]),
        created_at=float(fields["created_at"]),
        next_attempt_at=float(fields["next_attempt_at"]),
        attempts=[Attempt.from_dict(a) for a in orjson.loads(fields.get("attempts", "[]"))],
        last_error=fields.get("last_error", ""),
        finished_at=float(finished) if finished else None,
        handle=fields.get("owner", ""),
        digest_id=fields.get("digest_id") or None,
        actions=orjson.loads(fields.get("actions") or "[]"),
    )


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


@dataclass
class _Plan:
    """What one run of the transitions wants to commit."""

    results: list[TransitionResult] = field(default_factory=list)
    states: dict[str, GroupState | None] = field(default_factory=dict)  # key -> final state
    jobs: list[NewJob] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(self.states or self.jobs)


class RedisStore(Store):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        options: dict[str, Any] | None = None,
        instance: str = "relay",
    ) -> None:
        self.url = url  # without our own query options
        self.prefix = prefix
        self.instance = instance
        self._options = options or {}
        self._client: aioredis.Redis | None = None
        self._locks: list[asyncio.Lock] = []
        self._scripts: dict[str, Any] = {}
        self._layout_checked = False

    @classmethod
    def from_url(cls, url: str, *, instance: str = "relay") -> RedisStore:
        parsed = parse_redis_url(url)
        return cls(parsed.url, prefix=parsed.prefix, options=parsed.options, instance=instance)

    # -- plumbing --------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _gk(self, group_key: str) -> str:
        return self.prefix + "g:" + group_key

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Every Redis failure is a StoreUnavailable naming the server (no password)."""
        try:
            yield
        except StoreUnavailable:
            raise
        except (RedisError, OSError) as exc:
            text = str(exc) or type(exc).__name__
            raise StoreUnavailable(f"redis {self.describe()}: {text}") from exc

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreUnavailable(f"redis {self.describe()}: store is closed")
        return self._client

    async def _script(self, name: str, args: Sequence[str]) -> Any:
        # redis-py sends EVALSHA and loads the script again after a Redis restart.
        return await self._scripts[name](keys=[], args=list(args), client=self.client)

    # -- lifecycle -------------------------------------------------------------------
    async def open(self) -> None:
        if self._client is not None:
            return
        options = {
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
            "client_name": f"relay:{self.instance}",
            **self._options,
        }
        # A pooled connection broken by a Redis restart fails once; one quick retry on a
        # new connection hides that. When Redis is down, callers learn it in well under
        # a second (ingest answers 503) instead of waiting through long backoffs.
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), 2,
                      supported_errors=(RedisConnectionError,))
        self._client = aioredis.Redis.from_url(
            self.url, decode_responses=True, retry=retry, retry_on_timeout=False, **options
        )
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]
        self._scripts = {
            name: self._client.register_script(source)
            for name, source in (
                ("commit", _COMMIT), ("claim", _CLAIM), ("record", _RECORD), ("renew", _RENEW),
                ("release", _RELEASE), ("requeue", _REQUEUE), ("prune", _PRUNE),
                ("merge", _MERGE),
                ("resend", _RESEND), ("index_old", _INDEX_OLD), ("keep_webhook", _KEEP_WEBHOOK),
            )
        }
        try:
            await self._check_layout()
        except StoreUnavailable as exc:
            if _fixable_by_waiting(exc.__cause__):
                # Redis is down or restarting: start anyway, not ready (/-/ready pings)
                # until it answers, so replicas and Redis may start in any order.
                logger.warning("redis unreachable at start; not ready until it answers: %s", exc)
            else:
                await self.close()
                raise
        except BaseException:
            await self.close()
            raise
        # Leases of a previous run of this replica expire and are taken over like those
        # of any other replica: nothing to hand back here.

    async def _check_layout(self) -> None:
        """Mark a new key space with our layout version; refuse one newer than ours."""
        with self._guard():
            await self.client.set(self._key("schema"), SCHEMA_VERSION, nx=True)
            version = cast(str | None, await self.client.get(self._key("schema")))
        if version is not None and int(version) > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"redis {self.describe()}: data layout version {version} is newer than this"
                f" relay supports ({SCHEMA_VERSION}); upgrade relay"
            )
        if version is not None and int(version) < 2:
            await self._index_resolved_groups()
        if version is not None and int(version) < 3:
            await self._index_for_console()
        self._layout_checked = True
        await self._warn_without_persistence()

    async def _warn_without_persistence(self) -> None:
        """A 200 is only as durable as Redis' persistence (docs/operations.md): say so at
        start when Redis keeps accepted alerts in memory only, or until its next snapshot."""
        try:
            aof = (await self.client.info("persistence")).get("aof_enabled")
            save = (await self.client.config_get("save")).get("save", "")
        except RedisError:
            return  # CONFIG is often disabled on managed Redis: nothing to tell
        if aof:
            return
        if not save:
            logger.warning("redis %s has no persistence (appendonly no, no save points): a Redis"
                           " restart loses every accepted alert; set appendonly yes",
                           self.describe())
        else:
            logger.warning("redis %s persists by snapshots only (save %s, appendonly no): a Redis"
                           " crash loses the alerts accepted since the last snapshot; set"
                           " appendonly yes", self.describe(), save)

    async def _index_resolved_groups(self) -> None:
        """Layout 1 -> 2: index groups without a firing alert in ``groups:resolved``
        (layout 1 indexed only groups without any alert, in ``groups:empty``). Idempotent:
        replicas starting together may both run it."""
        resolved = self._key("groups:resolved")
        with self._guard():
            client = self.client
            async for gk in client.scan_iter(match=self._gk("*"), count=500):
                raw = await client.get(gk)
                if raw is None:
                    continue
                state = GroupState.from_dict(orjson.loads(raw))
                if not state.kept_count():
                    await client.zadd(resolved, {state.key: state.updated_at})
            await client.delete(self._key("groups:empty"))
            await client.set(self._key("schema"), 2)
        logger.info("redis layout upgraded to version 2 (resolved groups indexed for pruning)")

    async def _index_for_console(self) -> None:
        """Layout 2 -> 3: the console's indexes for the jobs and groups already stored.
        Idempotent (every index is a set), so replicas starting together may both run it."""
        with self._guard():
            client = self.client
            async for gk in client.scan_iter(match=self._gk("*"), count=500):
                await client.zadd(self._key("groups:all"), {gk[len(self._gk("")):]: 0})
            batch: list[str] = []
            async for job_id, _ in client.zscan_iter(self._key("jobs:all"), count=500):
                batch.append(job_id)
                if len(batch) == 500:
                    await self._index_old_jobs(batch)
                    batch = []
            await self._index_old_jobs(batch)
            await client.set(self._key("schema"), SCHEMA_VERSION)
        logger.info("redis layout upgraded to version %d (indexes for the console)",
                    SCHEMA_VERSION)

    async def _index_old_jobs(self, ids: list[str]) -> None:
        if not ids:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self._key("j", job_id), "payload")
            payloads: list[str | None] = await pipe.execute()
        async with self.client.pipeline(transaction=False) as pipe:
            for job_id, payload in zip(ids, payloads, strict=True):
                if payload is not None:
                    names = alertnames_of(orjson.loads(payload))
                    pipe.hset(self._key("j", job_id), mapping={"alertnames": "\n".join(names)})
            await pipe.execute()
        await self._script("index_old", [self.prefix, *ids])

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def ping(self) -> None:
        if not self._layout_checked:
            await self._check_layout()  # Redis was down when relay started
            return
        with self._guard():
            await self.client.ping()

    def describe(self) -> str:
        return f"{masked_url(self.url)} (prefix {self.prefix!r})"

    # -- groups ------------------------------------------------------------------------
    def _plan(self, updates: Sequence[GroupUpdate], stored: dict[str, str | None]) -> _Plan:
        """Run every transition on its own copy of the group as committed so far."""
        plan = _Plan()
        current = dict(stored)
        for update in updates:
            raw = current[update.key]
            state = GroupState.from_dict(orjson.loads(raw)) if raw is not None else None
            result = update.transition(state)
            plan.results.append(result)
            plan.jobs += result.jobs
            if result.changed:
                plan.states[update.key] = result.state
                new = result.state
                current[update.key] = orjson.dumps(new.to_dict()).decode() if new else None
        return plan

    def _commands(self, plan: _Plan) -> list[list[str | bytes]]:
        """The writes that commit ``plan``: group states, their indexes, new jobs."""
        out: list[list[str | bytes]] = []
        due, resolved = self._key("groups:due"), self._key("groups:resolved")
        for key, state in plan.states.items():
            gk = self._gk(key)
            if state is None:
                out += [["DEL", gk], ["ZREM", due, key], ["ZREM", resolved, key],
                        ["ZREM", self._key("groups:all"), key]]
                continue
            out.append(["SET", gk, orjson.dumps(state.to_dict())])
            out.append(["ZADD", self._key("groups:all"), "0", key])
            if state.next_flush_at is None:
                out.append(["ZREM", due, key])
            else:
                out.append(["ZADD", due, _num(state.next_flush_at), key])
            if state.kept_count():
                out.append(["ZREM", resolved, key])
            else:
                out.append(["ZADD", resolved, _num(state.updated_at), key])
        for job in plan.jobs:
            created = _num(job.created_at)
            names = alertnames_of(job.payload)
            out.append([
                "HSET", self._key("j", job.id),
                "id", job.id,
                "receiver", job.receiver,
                "integration", job.integration,
                "group_key", job.group_key,
                "payload", orjson.dumps(job.payload),
                "status", "pending",
                "created_at", created,
                "next_attempt_at", created,
                "attempts", "[]",
                "last_error", "",
                "finished_at", "",
                "owner", "",
                "lease_until", "",
                "entry", "",
                "actions", "[]",
                "alertnames", "\n".join(names),
            ])
            out += [
                ["ZADD", self._key("jobs:all"), created, job.id],
                ["ZADD", self._key("jobs:status:pending"), created, job.id],
                ["ZADD", self._key("jobs:receiver", job.receiver), created, job.id],
                ["ZADD", self._key("jobs:integration", job.integration), created, job.id],
                ["ZADD", self._key("jobs:group", job.group_key), created, job.id],
                ["ZADD", self._key("open", job.integration), created, job.id],
                ["SADD", self._key("console:integrations"), job.integration],
                ["ZADD", self._key("due", job.integration), created, job.id],
                ["SADD", self._key("integrations"), job.integration],
            ]
            out += [["ZADD", self._key("jobs:alertname", name), created, job.id] for name in names]
        return out

    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        if not updates:
            return []
        keys = list(dict.fromkeys(u.key for u in updates))
        gkeys = [self._gk(k) for k in keys]
        with self._guard():
            # Most webhooks (re-sends, an HA pair's second copy) change nothing: one MGET is
            # a consistent snapshot, and when no transition wants to write, that is all.
            raw = cast(list[str | None], await self.client.mget(gkeys))
            plan = self._plan(updates, dict(zip(keys, raw, strict=True)))
            if not plan.writes:
                return plan.results
            # Writers in this process take the same groups in turn (no retries among
            # themselves); other replicas are caught by the check in the commit script.
            stripes = sorted({zlib.crc32(k.encode()) % LOCK_STRIPES for k in keys})
            async with contextlib.AsyncExitStack() as stack:
                for stripe in stripes:
                    await stack.enter_async_context(self._locks[stripe])
                return await self._commit(updates, keys, gkeys, raw, plan)

    async def _commit(
        self,
        updates: Sequence[GroupUpdate],
        keys: list[str],
        gkeys: list[str],
        raw: list[str | None],
        plan: _Plan,
    ) -> list[TransitionResult]:
        """Commit ``plan`` if the groups are still as read; else read and plan again."""
        deadline = time.monotonic() + CONTENTION_LIMIT
        tries = 0
        while plan.writes:
            expected = [hashlib.sha1(v.encode()).hexdigest() if v is not None else "" for v in raw]
            args: list[str | bytes] = [*expected]
            for command in self._commands(plan):
                args += [str(len(command)), *command]
            if await self._scripts["commit"](keys=gkeys, args=args, client=self.client):
                break
            tries += 1
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    f"redis {self.describe()}: gave up after {tries} tries; other writers keep"
                    " changing the same groups"
                )
            await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**tries)))
            # Another replica committed in between: the transitions run again (they have
            # no side effects) on what it committed.
            raw = cast(list[str | None], await self.client.mget(gkeys))
            plan = self._plan(updates, dict(zip(keys, raw, strict=True)))
        return plan.results

    async def due_groups(self, now: float, limit: int = 100) -> list[str]:
        with self._guard():
            keys = await self.client.zrangebyscore(
                self._key("groups:due"), "-inf", _num(now), start=0, num=limit
            )
        return cast(list[str], keys)

    async def get_group(self, key: str) -> GroupState | None:
        with self._guard():
            raw = await self.client.get(self._gk(key))
        return GroupState.from_dict(orjson.loads(raw)) if raw is not None else None

    # -- jobs --------------------------------------------------------------------------
    async def claim_jobs(
        self,
        owner: str,
        now: float,
        limit: int,
        lease: float,
        exclude_integrations: Collection[str] = (),
        *,
        per_integration: int | None = None,
        held: Mapping[str, int] | None = None,
    ) -> list[Job]:
        if limit <= 0:
            return []
        room = ClaimRoom(limit, frozenset(exclude_integrations), per_integration, held or {})
        args = [self.prefix, owner, _num(now), str(int(limit)), _num(now + lease),
                str(room.unlisted)]
        for integration, n in room.listed().items():
            args += [integration, str(n)]
        with self._guard():
            rows = await self._script("claim", args)
        return [_job(_pairs(row)) for row in rows]

    async def count_due(self, integration: str, now: float) -> int:
        with self._guard():
            return int(await self.client.zcount(self._key("due", integration), "-inf", _num(now)))

    async def claim_integration(
        self, owner: str, integration: str, now: float, limit: int, lease: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        # The claim script with a room of 0 for every integration but this one.
        args = [self.prefix, owner, _num(now), str(int(limit)), _num(now + lease), "0",
                integration, str(int(limit))]
        with self._guard():
            rows = await self._script("claim", args)
        return [_job(_pairs(row)) for row in rows]

    async def merge_into_digest(
        self, owner: str, digest: NewJob, merged: Collection[str], now: float
    ) -> bool:
        attempt = Attempt(at=now, duration=0.0, outcome="delivered", reason="digest",
                          detail=f"merged into digest {digest.id}")
        args = [
            self.prefix, owner, _num(now), orjson.dumps(attempt.to_dict()).decode(), digest.id,
            digest.receiver, digest.integration, digest.group_key,
            orjson.dumps(digest.payload).decode(), _num(digest.created_at),
            "\n".join(alertnames_of(digest.payload)), *merged,
        ]
        with self._guard():
            done = await self._script("merge", args)
        return bool(done)

    async def renew(self, owner: str, job_ids: Collection[str], until: float) -> None:
        if not job_ids:
            return
        with self._guard():
            await self._script("renew", [self.prefix, owner, _num(until), *job_ids])

    async def release(self, owner: str, job_ids: Collection[str]) -> None:
        if not job_ids:
            return
        with self._guard():
            await self._script("release", [self.prefix, owner, *job_ids])

    async def record_attempt(
        self, job: Job, attempt: Attempt, next_attempt_at: float | None = None
    ) -> None:
        error = attempt.error or attempt.reason
        last = {"at": attempt.at, "outcome": attempt.outcome, "reason": attempt.reason,
                "error": attempt.error}
        args = [
            self.prefix, job.id, orjson.dumps(attempt.to_dict()).decode(), attempt.outcome,
            _num(attempt.at), error, "" if next_attempt_at is None else _num(next_attempt_at),
            str(stats_bucket(attempt.at)), str(STATS_KEEP), orjson.dumps(last).decode(),
        ]
        with self._guard():
            await self._script("record", args)

    async def requeue(self, job_id: str, now: float, by: str | None = None) -> bool:
        # The dispatcher restarts its retry window at the latest "requeued" attempt.
        marker = Attempt(at=now, duration=0.0, outcome="retry", reason="requeued").to_dict()
        action = (orjson.dumps({"action": "retry", "by": by, "at": now}).decode()
                  if by is not None else "")
        with self._guard():
            done = await self._script(
                "requeue", [self.prefix, job_id, _num(now), orjson.dumps(marker).decode(), action]
            )
        return bool(done)

    async def get_job(self, job_id: str) -> Job | None:
        with self._guard():
            fields = cast(dict[str, str], await self.client.hgetall(self._key("j", job_id)))
        return _job(fields) if fields else None

    async def _jobs(self, ids: Sequence[str]) -> list[Job]:
        if not ids:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self._key("j", job_id))
            rows: list[dict[str, str]] = await pipe.execute()
        return [_job(row) for row in rows if row]  # pruned meanwhile: skipped

    async def list_jobs(
        self, status: JobStatus | None = None, limit: int = 100, receiver: str | None = None
    ) -> list[Job]:
        if limit <= 0:
            return []
        with self._guard():
            client = self.client
            if status is None and receiver is None:
                index = self._key("jobs:all")
            elif receiver is None:
                index = self._key("jobs:status", str(status))
            elif status is None:
                index = self._key("jobs:receiver", receiver)
            else:
                # Both filters: walk the smaller index and check the other field.
                by_status = self._key("jobs:status", status)
                by_receiver = self._key("jobs:receiver", receiver)
                sizes = await client.zcard(by_status), await client.zcard(by_receiver)
                index = by_status if sizes[0] <= sizes[1] else by_receiver
            found: list[Job] = []
            start, page = 0, max(limit, 100)
            while len(found) < limit:
                ids = cast(list[str], await client.zrevrange(index, start, start + page - 1))
                if not ids:
                    break
                for job in await self._jobs(ids):
                    if (status is None or job.status == status) and (
                        receiver is None or job.receiver == receiver
                    ):
                        found.append(job)
                start += page
            return found[:limit]

    async def job_counts(self) -> dict[str, int]:
        with self._guard():
            async with self.client.pipeline(transaction=True) as pipe:
                for status in JOB_STATUSES:
                    pipe.zcard(self._key("jobs:status", status))
                counts: list[int] = await pipe.execute()
        return dict(zip(JOB_STATUSES, counts, strict=True))

    # -- the console -------------------------------------------------------------------
    def _log_indexes(self, query: JobQuery) -> list[str]:
        """The zsets (score created_at) whose members all pass one filter of ``query``."""
        indexes = []
        if query.status is not None:
            indexes.append(self._key("jobs:status", query.status))
        for name, value in (("jobs:receiver", query.receiver),
                            ("jobs:integration", query.integration),
                            ("jobs:group", query.group_key),
                            ("jobs:alertname", query.alertname)):
            if value is not None:
                indexes.append(self._key(name, value))
        return indexes or [self._key("jobs:all")]

    async def _walk(
        self, index: str, query: JobQuery, batch: int = LOG_BATCH
    ) -> AsyncIterator[list[tuple[str, float]]]:
        """(id, created_at) of ``index`` in log order (created_at, then id, descending),
        strictly after the cursor and within since/until, in batches."""
        client = self.client
        low = _num(query.since) if query.since is not None else "-inf"
        high = _num(query.until) if query.until is not None else "+inf"
        if query.cursor is not None:
            score, last_id = query.cursor
            if query.until is None or score <= query.until:
                # The rest of the cursor's own score first (the same created_at: one
                # webhook's notifications), then strictly older ones.
                offset = 0
                while True:
                    ids = cast(list[str], await client.zrevrangebyscore(
                        index, _num(score), _num(score), start=offset, num=batch))
                    yield [(i, score) for i in ids if i < last_id]
                    if len(ids) < batch:
                        break
                    offset += batch
                high = "(" + _num(score)
        offset = 0
        while True:
            rows = cast(list[tuple[str, float]], await client.zrevrangebyscore(
                index, high, low, start=offset, num=batch, withscores=True))
            yield rows
            if len(rows) < batch:
                return
            offset += batch

    async def query_jobs(self, query: JobQuery) -> JobPage:
        """Walk the smallest index among the query's filters and check the others on each
        job. The walk reads at most LOG_SCAN_LIMIT entries per page: past that the page
        ends short, with a cursor where the walk stopped (JobPage says so)."""
        with self._guard():
            indexes = self._log_indexes(query)
            if len(indexes) > 1:
                async with self.client.pipeline(transaction=False) as pipe:
                    for index in indexes:
                        pipe.zcard(index)
                    sizes: list[int] = await pipe.execute()
                index = indexes[sizes.index(min(sizes))]
            else:
                index = indexes[0]
            found: list[Job] = []
            scanned = 0
            position: tuple[float, str] | None = None
            # With one filter every entry of its index matches: read just one page's worth.
            batch = query.limit + 1 if len(indexes) == 1 else LOG_BATCH
            async for rows in self._walk(index, query, batch):
                for job in await self._jobs([job_id for job_id, _ in rows]):
                    if _passes(job, query):
                        found.append(job)
                        if len(found) > query.limit:
                            last = found[query.limit - 1]
                            return JobPage(found[: query.limit], (last.created_at, last.id))
                if rows:
                    scanned += len(rows)
                    position = (rows[-1][1], rows[-1][0])
                    if scanned >= LOG_SCAN_LIMIT:
                        return JobPage(found, position)
            return JobPage(found, None)

    async def resend(self, job_id: str, new_id: str, now: float, by: str) -> Job | None:
        on_original = {"action": "resend", "by": by, "at": now, "job": new_id}
        on_new = {"action": "resent_from", "by": by, "at": now, "job": job_id}
        with self._guard():
            done = await self._script("resend", [
                self.prefix, job_id, new_id, _num(now),
                orjson.dumps(on_original).decode(), orjson.dumps(on_new).decode(),
            ])
        return await self.get_job(new_id) if done else None

    async def integration_stats(self, now: float) -> dict[str, IntegrationStats]:
        hour, day = hour_and_day_buckets(now)
        buckets = list(range(day, stats_bucket(now) + 1, STATS_BUCKET))
        stats: dict[str, IntegrationStats] = {}
        with self._guard():
            client = self.client
            async with client.pipeline(transaction=False) as pipe:
                for bucket in buckets:
                    pipe.hgetall(self._key("stats", str(bucket)))
                pipe.hgetall(self._key("last"))
                pipe.smembers(self._key("console:integrations"))
                *counted, last, integrations = await pipe.execute()
            for bucket, counters in zip(buckets, counted, strict=True):
                for name, value in cast(dict[str, str], counters).items():
                    kind, _, integration = name.partition(":")
                    entry = stats.setdefault(integration, IntegrationStats())
                    if kind == "d":
                        entry.day_delivered += int(value)
                        entry.hour_delivered += int(value) if bucket >= hour else 0
                    else:
                        entry.day_failed += int(value)
                        entry.hour_failed += int(value) if bucket >= hour else 0
            for integration, raw in cast(dict[str, str], last).items():
                seen = orjson.loads(raw)
                entry = stats.setdefault(integration, IntegrationStats())
                entry.last_at, entry.last_outcome = seen["at"], seen["outcome"]
                entry.last_reason, entry.last_error = seen["reason"], seen["error"]
            names = sorted(cast(set[str], integrations))
            async with client.pipeline(transaction=False) as pipe:
                for integration in names:
                    pipe.zcard(self._key("open", integration))
                    pipe.zrange(self._key("open", integration), 0, 0, withscores=True)
                    pipe.zcard(self._key("dead", integration))
                answers = await pipe.execute()
        for i, integration in enumerate(names):
            queue, oldest, dead = answers[3 * i: 3 * i + 3]
            if not (queue or dead or integration in stats):
                continue
            entry = stats.setdefault(integration, IntegrationStats())
            entry.queue, entry.dead = int(queue), int(dead)
            entry.oldest_queued_at = float(oldest[0][1]) if oldest else None
        return stats

    async def list_groups(
        self, after: str | None, limit: int, receiver: str | None = None
    ) -> tuple[list[GroupState], str | None]:
        """Groups by key from ``groups:all`` (one score, so in key order); a receiver
        filter reads at most LOG_SCAN_LIMIT groups per page."""
        found: list[GroupState] = []
        scanned = 0
        start = "(" + after if after is not None else "-"
        with self._guard():
            client = self.client
            while True:
                keys = cast(list[str], await client.zrangebylex(
                    self._key("groups:all"), start, "+", start=0, num=LOG_BATCH))
                if not keys:
                    return found, None
                raws = cast(list[str | None], await client.mget([self._gk(k) for k in keys]))
                for raw in raws:
                    if raw is None:
                        continue
                    state = GroupState.from_dict(orjson.loads(raw))
                    if receiver is None or state.receiver == receiver:
                        found.append(state)
                        if len(found) > limit:
                            return found[:limit], found[limit - 1].key
                scanned += len(keys)
                start = "(" + keys[-1]
                if scanned >= LOG_SCAN_LIMIT and len(keys) == LOG_BATCH:
                    return found, keys[-1]

    async def keep_webhooks(
        self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int
    ) -> None:
        with self._guard():
            for webhook in webhooks:
                entry = orjson.dumps({"id": webhook.id, "received_at": webhook.received_at,
                                      "receiver": webhook.receiver, "body": webhook.body})
                size = len(webhook.body.encode("utf-8"))
                await self._script("keep_webhook", [self.prefix, f"{size} {entry.decode()}",
                                                    str(keep), str(keep_bytes)])

    async def recent_webhooks(self) -> list[KeptWebhook]:
        with self._guard():
            items = cast(list[str], await self.client.lrange(self._key("webhooks"), 0, -1))
        kept = []
        for item in items:
            data = orjson.loads(item.partition(" ")[2])
            kept.append(KeptWebhook(data["id"], data["received_at"], data["receiver"], data["body"]))
        return kept

    # -- retention ---------------------------------------------------------------------
    async def prune(self, now: float, job_retention: float, group_retention: float) -> int:
        args = [self.prefix, _num(now - job_retention), _num(now - group_retention),
                str(PRUNE_BATCH), str(UNFINISHED_JOBS_SCAN_LIMIT)]
        total = 0
        with self._guard():
            while True:  # in batches, so other replicas' commands run in between
                removed, more = await self._script("prune", args)
                total += int(removed)
                if not more:
                    return total

    # -- message references ------------------------------------------------------------
    async def get_ref(self, key: str) -> dict[str, Any] | None:
        with self._guard():
            raw = await self.client.get(self._key("ref", key))
        return cast(dict[str, Any], orjson.loads(raw)) if raw is not None else None

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None:
        with self._guard():
            await self.client.set(
                self._key("ref", key), orjson.dumps(value), px=max(1, round(ttl * 1000))
            )


def _fixable_by_waiting(exc: BaseException | None) -> bool:
    """A refused or timed-out connection (Redis down), not a wrong password or certificate."""
    if isinstance(exc, AuthenticationError | AuthorizationError) or not isinstance(
        exc, RedisConnectionError | RedisTimeoutError
    ):
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return False
        seen = seen.__cause__ or seen.__context__
    return True
