-- Loaded after: helpers.lua
-- KEYS: none (key names are built from the prefix). ARGV: prefix, id, now, marker attempt JSON, action JSON ('' = none)
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
