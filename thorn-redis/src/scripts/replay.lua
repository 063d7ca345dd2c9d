-- replay: moves one dead letter back to the stream as a fresh entry.
--
-- KEYS[1]  the dead letters      thorn:{queue}:dead
-- KEYS[2]  the stream            thorn:{queue}:stream
-- ARGV[1]  the dead letter's id
-- ARGV[2]  the encoded delivery to enqueue (its attempt count reset)
--
-- Returns the new entry's id, or false when the dead letter is gone
-- (replayed or purged meanwhile).
expect_type(KEYS[1], 'stream')
expect_type(KEYS[2], 'stream')
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return false
end
return redis.call('XADD', KEYS[2], '*', 'd', ARGV[2])
