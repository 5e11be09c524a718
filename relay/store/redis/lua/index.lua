-- The job's indexes, shared by apply (through Python), resend and the layout upgrade.
-- KEYS, ARGV: none (functions only, loaded before the scripts that call them).
local function index_job(P, id, created, receiver, integration, group_key, alertnames)
  redis.call('ZADD', P .. 'jobs:all', created, id)
  redis.call('ZADD', P .. 'jobs:receiver:' .. receiver, created, id)
  redis.call('ZADD', P .. 'jobs:integration:' .. integration, created, id)
  redis.call('ZADD', P .. 'jobs:group:' .. group_key, created, id)
  for name in string.gmatch(alertnames or '', '[^\n]+') do
    redis.call('ZADD', P .. 'jobs:alertname:' .. name, created, id)
  end
  redis.call('SADD', P .. 'console:integrations', integration)
end
local function unindex_job(P, id, receiver, integration, group_key, alertnames)
  redis.call('ZREM', P .. 'jobs:all', id)
  redis.call('ZREM', P .. 'jobs:receiver:' .. receiver, id)
  redis.call('ZREM', P .. 'jobs:integration:' .. integration, id)
  redis.call('ZREM', P .. 'jobs:group:' .. group_key, id)
  for name in string.gmatch(alertnames or '', '[^\n]+') do
    redis.call('ZREM', P .. 'jobs:alertname:' .. name, id)
  end
end
