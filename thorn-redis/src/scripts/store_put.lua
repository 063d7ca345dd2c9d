-- store_put: adds or replaces a subscription (last writer wins) and bumps
-- the store's version, so that every process's cached index reloads.
--
-- KEYS     as in store_lib.lua
-- ARGV[1]  the subscription's id
-- ARGV[2]  its JSON
--
-- Returns its new revision.
return write(ARGV[1], ARGV[2], redis.call('HGET', KEYS[1], ARGV[1]))
