-- settle: acknowledges stream entries after their deliveries were tried,
-- files the failed ones, and deletes the entries, all at once; and ends
-- the deliveries a worker went on with past their entry. One call settles
-- a batch.
--
-- KEYS[1]  the stream            thorn:{queue}:stream
-- KEYS[2]  the retry set         thorn:{queue}:delayed
-- KEYS[3]  the dead letters      thorn:{queue}:dead
-- KEYS[4]  the queue's counters  thorn:{queue}:stats
-- KEYS[5]  the open circuits     thorn:{queue}:circuits
-- KEYS[6]  the receivers' health thorn:{queue}:health
-- ARGV[1]  the consumer group
-- ARGV[2]  how many deliveries were delivered (added to the `delivered`
--          field of KEYS[4], for `thorn queue stats`)
-- ARGV[3]  the prefix of the per-subscription keys (thorn:{queue}:)
-- ARGV[4]  now (Unix ms)
-- ARGV[5..8] the breaker's policy: failures in a row that open a circuit,
--          the failure rate's window (ms), the attempts in it before the
--          rate counts, the first cool-down (ms)
-- ARGV[9]  c: how many entries have nothing to file, then their c ids
-- then     m, and m filings of entries
-- then     l, and l filings of held deliveries
-- then     h, and h quintuples of what the attempts said of a
--          subscription's receiver: its id, 1 if one succeeded (the
--          count in a row starts over) else 0, the failures after the last
--          success, the attempts, the failures
--
-- A filing is: a key, r, d, a, then r pairs (due time in Unix ms, encoded
-- delivery), d quadruples (encoded delivery, last error, last HTTP status
-- or "", failed at in Unix ms), a pairs (subscription id, delivery id as
-- 16 bytes). An entry's key is its id: the filing applies only while the
-- entry is pending in the group (another worker may have reclaimed and
-- settled it), and acknowledges and deletes it. A held delivery's key is
-- the member it is held under in the retry set (a worker that delivers a
-- delivery past its entry keeps it there, due when the worker would be
-- presumed dead): the filing applies only if that member is still there,
-- and removes it. The a pairs are deliveries of ordered subscriptions that
-- ended (delivered or dead): each lets its subscription's next waiting
-- delivery go (see order_push.lua).
--
-- Every key's type is checked before the first write (guard.lua): a
-- failing call writes nothing and leaves every entry pending.
--
-- The breaker (thorn_core::breaker) is kept here for every worker of the
-- queue: KEYS[6] holds, for each subscription that failed lately,
-- "<failures in a row>,<window start>,<attempts in it>,<failures in it>".
-- When the failures in a row reach the threshold, or half of enough
-- attempts in the window failed, the circuit opens in KEYS[5] ("<until>,1",
-- unless it is open already); probes and their outcome are the workers'.
--
-- Returns {settled, opened}: how many entries were settled, and the ids of
-- the subscriptions whose circuit this call opened.
expect_type(KEYS[1], 'stream')
expect_type(KEYS[2], 'zset')
expect_type(KEYS[3], 'stream')
expect_type(KEYS[4], 'hash')
expect_type(KEYS[5], 'hash')
expect_type(KEYS[6], 'hash')
expect_integer_field(KEYS[4], 'delivered')

local prefix = ARGV[3]
local now = tonumber(ARGV[4])
local threshold = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
local window_min = tonumber(ARGV[7])
local cool_down = tonumber(ARGV[8])
local opened = {}

-- Adds what attempts said of `sub`'s receiver to its health, and opens its
-- circuit when the breaker says so.
local function health(sub, reset, tail, attempts, fails)
  local row, start, tries, failed = 0, now, 0, 0
  local held = redis.call('HGET', KEYS[6], sub)
  if held then
    local a, b, c, d = string.match(held, '^(%d+),(%d+),(%d+),(%d+)$')
    if a then
      row, start, tries, failed = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
    end
  end
  if reset == 1 then
    row = tail
  else
    row = row + tail
  end
  if now - start > window then
    start, tries, failed = now, 0, 0
  end
  tries = tries + attempts
  failed = failed + fails
  if row >= threshold or (tries >= window_min and failed * 2 >= tries) then
    local circuit = redis.call('HGET', KEYS[5], sub)
    local openings = 0
    if circuit then
      openings = tonumber(string.match(circuit, ',(%d+)$') or '0')
    end
    if openings == 0 then
      redis.call('HSET', KEYS[5], sub, string.format('%d,1', now + cool_down))
      table.insert(opened, sub)
    end
    redis.call('HDEL', KEYS[6], sub)
  elseif row == 0 and failed == 0 then
    if held then
      redis.call('HDEL', KEYS[6], sub)
    end
  else
    redis.call('HSET', KEYS[6], sub, string.format('%d,%d,%d,%d', row, start, tries, failed))
  end
end

-- The ordered subscription `sub` is done with delivery `id`: its next
-- waiting delivery goes to the stream, or none is on its way any more.
local function advance(sub, id)
  local head = prefix .. 'head:' .. sub
  if redis.call('GET', head) ~= id then
    return
  end
  local nxt = redis.call('LPOP', prefix .. 'order:' .. sub)
  if nxt then
    redis.call('SET', head, string.sub(nxt, 1, 16))
    redis.call('XADD', KEYS[1], '*', 'd', string.sub(nxt, 17))
  else
    redis.call('DEL', head)
  end
end

-- Applies the filing at ARGV[i] if `held` says its key holds; returns the
-- index after it and whether it applied.
local function filing(i, held)
  local key = ARGV[i]
  local r = tonumber(ARGV[i + 1])
  local d = tonumber(ARGV[i + 2])
  local a = tonumber(ARGV[i + 3])
  local first = i + 4
  local after = first + 2 * r + 4 * d + 2 * a
  if not held(key) then
    return after, false
  end
  for k = 0, r - 1 do
    redis.call('ZADD', KEYS[2], ARGV[first + 2 * k], ARGV[first + 2 * k + 1])
  end
  local j = first + 2 * r
  for k = 0, d - 1 do
    local at = j + 4 * k
    redis.call('XADD', KEYS[3], '*',
      'd', ARGV[at], 'error', ARGV[at + 1], 'status', ARGV[at + 2], 'at', ARGV[at + 3])
  end
  j = j + 4 * d
  for k = 0, a - 1 do
    advance(ARGV[j + 2 * k], ARGV[j + 2 * k + 1])
  end
  return after, true
end

local settled = 0
local delivered = tonumber(ARGV[2])
if delivered > 0 then
  redis.call('HINCRBY', KEYS[4], 'delivered', delivered)
end
local c = tonumber(ARGV[9])
if c > 0 then
  settled = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 10, 9 + c))
  redis.call('XDEL', KEYS[1], unpack(ARGV, 10, 9 + c))
end
local i = 10 + c
local pending = function(id)
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    redis.call('XDEL', KEYS[1], id)
    return true
  end
  return false
end
local m = tonumber(ARGV[i])
i = i + 1
for _ = 1, m do
  local applied
  i, applied = filing(i, pending)
  if applied then
    settled = settled + 1
  end
end
local held = function(member)
  return redis.call('ZREM', KEYS[2], member) == 1
end
local l = tonumber(ARGV[i])
i = i + 1
for _ = 1, l do
  i = filing(i, held)
end
local h = tonumber(ARGV[i])
i = i + 1
for _ = 1, h do
  health(ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]),
    tonumber(ARGV[i + 4]))
  i = i + 5
end
return {settled, opened}
