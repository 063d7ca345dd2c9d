-- store_create: adds a new subscription unless its id is taken or its
-- owner already has the most allowed, checked and written in one step.
--
-- KEYS     as in store_lib.lua
-- ARGV[1]  the subscription's id
-- ARGV[2]  its JSON
-- ARGV[3]  how many subscriptions an owner may have, or -1 for no limit
--
-- Returns its revision (1), -1 when the id is taken, -2 when the owner is
-- at the limit.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return -1
end
local limit = tonumber(ARGV[3])
local owner = owner_of(ARGV[2])
if owner and limit >= 0 then
  ensure_counts()
  local held = tonumber(redis.call('HGET', KEYS[4], owner) or '0')
  if held >= limit then
    return -2
  end
end
redis.call('HDEL', KEYS[3], ARGV[1])
return write(ARGV[1], ARGV[2], nil)
