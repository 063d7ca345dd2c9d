-- store_remove: removes a subscription and bumps the store's version.
--
-- KEYS     as in store_lib.lua
-- ARGV[1]  the subscription's id
--
-- Returns 1 when it existed, 0 otherwise (the version is then unchanged).
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then
  return 0
end
ensure_counts()
recount(owner_of(old), nil)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('INCR', KEYS[2])
return 1
