-- Keep a received webhook (ARGV: prefix, entry '<bytes> <json>', keep, keep_bytes): the
-- newest first; the first that crosses either bound and every older one go.
-- KEYS: none (key names are built from the prefix); ARGV as above.
local P, entry, keep, keep_bytes = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local list = P .. 'webhooks'
local size = tonumber(string.match(entry, '^(%d+) '))
if keep > 0 and size <= keep_bytes then redis.call('LPUSH', list, entry) end
local total = 0
local items = redis.call('LRANGE', list, 0, keep)
for i, item in ipairs(items) do
  total = total + tonumber(string.match(item, '^(%d+) '))
  if i > keep or total > keep_bytes then
    if i == 1 then redis.call('DEL', list) else redis.call('LTRIM', list, 0, i - 2) end
    return 1
  end
end
return 1
