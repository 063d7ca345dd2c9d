-- store_put: adds or replaces a subscription and bumps the store's version,
-- so that every process's cached index reloads.
--
-- KEYS[1]  the subscriptions     thorn:{store}:subs (hash: id -> JSON)
-- KEYS[2]  the version counter   thorn:{store}:version
-- ARGV[1]  the subscription's id
-- ARGV[2]  its JSON
--
-- Returns the new version.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCR', KEYS[2])
