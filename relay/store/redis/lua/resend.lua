-- Loaded after: helpers.lua, index.lua
-- KEYS: none (key names are built from the prefix). ARGV: prefix, original id, new id, now, action on the original, action on the new one
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
