-- heartbeat: resets the idle time of entries a live worker is still
-- delivering, so that no other worker reclaims them. An entry that another
-- consumer owns by now (it was reclaimed) is left alone.
--
-- KEYS[1]  the stream            thorn:{queue}:stream
-- ARGV[1]  the consumer group
-- ARGV[2]  this worker's consumer name
-- ARGV[3 ..] the ids of the entries in flight
--
-- Returns how many entries were refreshed.
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n
