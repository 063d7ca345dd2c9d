-- settle: acknowledges stream entries after their deliveries were tried,
-- files the failed ones, and deletes the entries, all at once. One call
-- settles a batch of entries.
--
-- KEYS[1]  the stream            thorn:{queue}:stream
-- KEYS[2]  the retry set         thorn:{queue}:delayed
-- KEYS[3]  the dead letters      thorn:{queue}:dead
-- KEYS[4]  the queue's counters  thorn:{queue}:stats
-- ARGV[1]  the consumer group
-- ARGV[2]  how many deliveries of these entries were delivered (added to
--          the `delivered` field of KEYS[4], for `thorn queue stats`)
-- ARGV[3]  c: how many entries have nothing to file (every delivery
--          succeeded), then their c ids
-- ARGV[4 + c ..] per other entry: its id, r, d, then r pairs (due time in
--          Unix ms, encoded delivery), then d quadruples (encoded delivery,
--          last error, last HTTP status or "", failed at in Unix ms)
--
-- Every key's type is checked before the first write (guard.lua): a
-- failing call writes nothing and leaves every entry pending.
--
-- Returns how many entries were settled. An entry no longer pending in the
-- group (another worker reclaimed and settled it) is skipped: nothing is
-- filed for it. The entries with nothing to file are acknowledged and
-- deleted with one XACK and one XDEL.
expect_type(KEYS[1], 'stream')
expect_type(KEYS[2], 'zset')
expect_type(KEYS[3], 'stream')
expect_type(KEYS[4], 'hash')
expect_integer_field(KEYS[4], 'delivered')

local settled = 0
local delivered = tonumber(ARGV[2])
if delivered > 0 then
  redis.call('HINCRBY', KEYS[4], 'delivered', delivered)
end
local c = tonumber(ARGV[3])
if c > 0 then
  settled = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 4, 3 + c))
  redis.call('XDEL', KEYS[1], unpack(ARGV, 4, 3 + c))
end
local i = 4 + c
while i <= #ARGV do
  local id = ARGV[i]
  local r = tonumber(ARGV[i + 1])
  local d = tonumber(ARGV[i + 2])
  i = i + 3
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    redis.call('XDEL', KEYS[1], id)
    for k = 0, r - 1 do
      redis.call('ZADD', KEYS[2], ARGV[i + 2 * k], ARGV[i + 2 * k + 1])
    end
    local j = i + 2 * r
    for k = 0, d - 1 do
      local at = j + 4 * k
      redis.call('XADD', KEYS[3], '*',
        'd', ARGV[at], 'error', ARGV[at + 1], 'status', ARGV[at + 2], 'at', ARGV[at + 3])
    end
    settled = settled + 1
  end
  i = i + 2 * r + 4 * d
end
return settled
