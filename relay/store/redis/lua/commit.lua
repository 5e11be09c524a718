-- apply(): the groups' current values must still hash to what the transitions were run
-- on (KEYS[i] <-> ARGV[i], '' = absent); then the commands follow as (argc, args...).
-- Comparing contents, not versions, is enough: a transition depends only on the state.
-- KEYS: the groups' keys. ARGV: each group's SHA-1 as read ('' = absent), then the
-- commands.
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    if redis.sha1hex(value) ~= ARGV[i] then return 0 end
  elseif ARGV[i] ~= '' then
    return 0
  end
end
local i = #KEYS + 1
while i <= #ARGV do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
end
return 1
