-- settle: acknowledges one stream entry after its deliveries were tried,
-- files the failed ones, and deletes the entry, all at once.
--
-- KEYS[1]  the stream            thorn:{queue}:stream
-- KEYS[2]  the retry set         thorn:{queue}:delayed
-- KEYS[3]  the dead letters      thorn:{queue}:dead
-- ARGV[1]  the consumer group
-- ARGV[2]  the entry's id
-- ARGV[3]  r, how many retries follow
-- ARGV[4 .. 3+2r]         r pairs: due time (Unix ms), encoded delivery
-- ARGV[4+2r ..]           dead letters, 4 values each: encoded delivery,
--                         last error, last HTTP status (or ""), failed at
--                         (Unix ms)
--
-- Returns 1 when settled; 0 when the entry was no longer pending in the
-- group (another worker reclaimed and settled it), in which case nothing is
-- written.
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
local r = tonumber(ARGV[3])
local i = 4
for _ = 1, r do
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i + 3 <= #ARGV do
  redis.call('XADD', KEYS[3], '*',
    'd', ARGV[i], 'error', ARGV[i + 1], 'status', ARGV[i + 2], 'at', ARGV[i + 3])
  i = i + 4
end
return 1
