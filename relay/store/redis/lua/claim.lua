-- claim_jobs(): ARGV[6] is the room of an integration not listed after it, then come
-- (integration, room) pairs: ClaimRoom decides in Python, the script only applies it.
-- KEYS: none. ARGV: prefix, owner, now, limit, lease until, room of an unlisted
-- integration, then (integration, room) pairs.
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
    if #rows == 2 * room then
      -- Jobs due at the same instant as the last one taken are candidates too: among
      -- them the oldest goes first (as in SQLite), not the one whose id sorts first.
      local last = rows[#rows]
      local seen = {}
      for i = 1, #rows, 2 do seen[rows[i]] = true end
      for _, id in ipairs(redis.call('ZRANGEBYSCORE', due, last, last)) do
        if not seen[id] then
          table.insert(rows, id)
          table.insert(rows, last)
        end
      end
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
