-- promote: moves retries that are due from the retry set back to the
-- stream, each as an entry of its own (keeping its delivery id).
--
-- KEYS[1]  the retry set         thorn:{queue}:delayed
-- KEYS[2]  the stream            thorn:{queue}:stream
-- ARGV[1]  now (Unix ms)
-- ARGV[2]  the most to move in one call
--
-- Returns {moved, next}: how many were moved, and the due time (Unix ms)
-- of the earliest retry left, or "" when the set is empty.
expect_type(KEYS[1], 'zset')
expect_type(KEYS[2], 'stream')
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'd', member)
  redis.call('ZREM', KEYS[1], member)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, first[2] or ''}
