-- Loaded after: helpers.lua
-- KEYS: none (key names are built from the prefix). ARGV: prefix, owner, ids...
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
