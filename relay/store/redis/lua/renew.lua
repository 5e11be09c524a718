-- KEYS: none (key names are built from the prefix). ARGV: prefix, owner, until, ids...
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
