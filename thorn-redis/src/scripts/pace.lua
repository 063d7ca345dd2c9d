-- pace: takes the next slot of a rate-limited subscription, shared by
-- every worker of the queue (the generic cell rate algorithm of
-- thorn_core::limits, kept as one theoretical arrival time per
-- subscription).
--
-- KEYS[1]  the pace of each subscription  thorn:{queue}:pace
-- ARGV[1]  the subscription's id
-- ARGV[2]  now (Unix ms)
-- ARGV[3]  the interval between deliveries (ms)
-- ARGV[4]  how far ahead of its arrival time a delivery may go (ms)
--
-- Returns when the delivery may go (Unix ms): now, or the time of its slot.
expect_type(KEYS[1], 'hash')
local now = tonumber(ARGV[2])
local tat = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0
if tat < now then
  tat = now
end
local at = tat - tonumber(ARGV[4])
if at < now then
  at = now
end
redis.call('HSET', KEYS[1], ARGV[1], tat + tonumber(ARGV[3]))
return at
