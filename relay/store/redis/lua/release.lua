-- Loaded after: helpers.lua
-- KEYS: none (key names are built from the prefix). ARGV: prefix, owner, due at ('':
-- when it was due already), ids...
local P, owner, at = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = P .. 'j:' .. id
  local f = redis.call('HMGET', key, 'status', 'owner', 'integration', 'next_attempt_at',
                       'created_at', 'attempts')
  if f[1] == 'running' and f[2] == owner then
    unlease(P, key, id)
    local due = f[4]
    if at ~= '' then due = at end
    redis.call('HSET', key, 'status', 'pending', 'next_attempt_at', due)
    schedule(P, id, f[3], due)
    move(P, id, 'running', 'pending', f[5])
    if f[6] and f[6] ~= '[]' then
      redis.call('ZADD', P .. 'jobs:status:retrying', f[5], id)
    end
  end
end
return 1
