-- Layout 2 -> 3: the console's indexes for jobs stored before them (ARGV: prefix, ids...).
-- Loaded after: index.lua
-- KEYS: none (key names are built from the prefix); ARGV as above.
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
