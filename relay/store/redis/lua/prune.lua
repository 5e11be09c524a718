-- Loaded after: index.lua
-- KEYS: none (key names are built from the prefix). ARGV: prefix, delivered-before, resolved-groups-before, batch, unfinished-jobs scan limit
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
