-- store_update: replaces a subscription only while it is at the revision
-- the change was read at (a compare-and-set).
--
-- KEYS     as in store_lib.lua
-- ARGV[1]  the subscription's id
-- ARGV[2]  its new JSON
-- ARGV[3]  the revision the change was read at
--
-- Returns its new revision, -1 when it is gone, or -2 - n when it is at
-- revision n instead.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then
  return -1
end
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if held ~= tonumber(ARGV[3]) then
  return -2 - held
end
return write(ARGV[1], ARGV[2], old)
