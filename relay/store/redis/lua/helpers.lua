-- Shared by the scripts that take a job off the stream and move it between statuses.
-- KEYS, ARGV: none (functions only, loaded before the scripts that call them).
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
