-- flight: counts a delivery of a capped subscription in flight, shared by
-- every worker of the queue, if fewer than its cap are.
--
-- KEYS[1]  its deliveries in flight  thorn:{queue}:flight:<subscription>,
--          a sorted set of delivery ids scored by when the count lapses
--          (a worker that dies does not hold a place for ever)
-- ARGV[1]  now (Unix ms)
-- ARGV[2]  when this delivery's place lapses (Unix ms)
-- ARGV[3]  the delivery's id
-- ARGV[4]  the cap
--
-- Returns 1 when the delivery may go (its place is taken; the worker
-- removes it when the attempt ends), else 0.
expect_type(KEYS[1], 'zset')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
