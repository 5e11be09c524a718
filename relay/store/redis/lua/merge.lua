-- merge_into_digest(): every merged job must still be leased to ``owner``; then each is
-- delivered as part of the digest, and the digest becomes a pending job like any other
-- (the same hash fields and indexes as a job committed by apply()).
-- Loaded after: helpers.lua, index.lua
-- KEYS: none (key names are built from the prefix).
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
