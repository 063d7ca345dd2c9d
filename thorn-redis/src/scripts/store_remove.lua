-- store_remove: removes a subscription and bumps the store's version.
--
-- KEYS[1]  the subscriptions     thorn:{store}:subs
-- KEYS[2]  the version counter   thorn:{store}:version
-- ARGV[1]  the subscription's id
--
-- Returns 1 when it existed, 0 otherwise (the version is then unchanged).
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('INCR', KEYS[2])
return 1
