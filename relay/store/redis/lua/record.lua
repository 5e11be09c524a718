-- Loaded after: helpers.lua
-- KEYS: none (key names are built from the prefix).
-- ARGV: prefix, id, attempt JSON, the attempt's outcome (for the counters), at, the
--       job's last error, its next_attempt_at (pending again), stats bucket, seconds the
--       bucket is kept, last-outcome JSON, the job's new status. The new status, error
--       and due time are the lifecycle rule's result (relay.core.jobs.attempt_effect);
--       this script only keeps a job another replica delivered first delivered.
local P, id, attempt, outcome, at, err, nxt = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local new_status = ARGV[11]
local key = P .. 'j:' .. id
local f = redis.call('HMGET', key, 'status', 'attempts', 'created_at', 'integration')
if not f[1] then return 0 end
local status, created, integration = f[1], f[3], f[4]
local attempts = append(f[2], attempt)
-- the integration's health: a counter in this bucket, and its latest outcome
local bucket = P .. 'stats:' .. ARGV[8]
if outcome == 'delivered' then
  redis.call('HINCRBY', bucket, 'd:' .. integration, 1)
else
  redis.call('HINCRBY', bucket, 'f:' .. integration, 1)
end
redis.call('EXPIRE', bucket, ARGV[9])
local last = redis.call('HGET', P .. 'last', integration)
if not last or tonumber(cjson.decode(last)['at']) <= tonumber(at) then
  redis.call('HSET', P .. 'last', integration, ARGV[10])
end
if status == 'delivered' then
  -- another replica delivered it first (a lease ran out meanwhile): it stays delivered
  redis.call('HSET', key, 'attempts', attempts)
  return 1
end
unlease(P, key, id)
redis.call('ZREM', P .. 'due:' .. integration, id)
if new_status == 'delivered' then
  redis.call('HSET', key, 'status', 'delivered', 'attempts', attempts, 'last_error', err,
             'finished_at', at)
  redis.call('ZADD', P .. 'finished', at, id)
  move(P, id, status, 'delivered', created)
  redis.call('ZREM', P .. 'jobs:status:retrying', id)
  redis.call('ZREM', P .. 'open:' .. integration, id)
elseif new_status == 'dead' then
  redis.call('HSET', key, 'status', 'dead', 'attempts', attempts, 'last_error', err,
             'finished_at', at)
  move(P, id, status, 'dead', created)
  redis.call('ZREM', P .. 'jobs:status:retrying', id)
  redis.call('ZREM', P .. 'open:' .. integration, id)
  redis.call('ZADD', P .. 'dead:' .. integration, created, id)
else
  redis.call('HSET', key, 'status', 'pending', 'attempts', attempts, 'last_error', err,
             'finished_at', '', 'next_attempt_at', nxt)
  schedule(P, id, integration, nxt)
  move(P, id, status, 'pending', created)
  redis.call('ZADD', P .. 'jobs:status:retrying', created, id)
end
return 1
