-- order_push: enqueues the deliveries of ordered subscriptions, one on its
-- way per subscription: a delivery goes to the stream only when none of
-- its subscription is on its way (then it is the subscription's head),
-- else it waits at the end of the subscription's list, and the worker
-- that ends the head lets the next one go (settle.lua).
--
-- The other entries of the same batch come along, so that the batch is
-- enqueued all at once.
--
-- KEYS[1]  the stream   thorn:{queue}:stream
-- ARGV[1]  the prefix of the per-subscription keys (thorn:{queue}:)
-- ARGV[2]  n, then n entries to add to the stream as they are
-- ARGV[3 + n ..] triples: subscription id, delivery id (16 bytes),
--          encoded delivery
--
-- Returns how many ordered deliveries went to the stream.
expect_type(KEYS[1], 'stream')
local prefix = ARGV[1]
local n = tonumber(ARGV[2])
local first = 3 + n
for i = first, #ARGV, 3 do
  expect_type(prefix .. 'head:' .. ARGV[i], 'string')
  expect_type(prefix .. 'order:' .. ARGV[i], 'list')
end
for i = 3, 2 + n do
  redis.call('XADD', KEYS[1], '*', 'd', ARGV[i])
end
local sent = 0
for i = first, #ARGV, 3 do
  local head = prefix .. 'head:' .. ARGV[i]
  local list = prefix .. 'order:' .. ARGV[i]
  if redis.call('EXISTS', head) == 1 then
    redis.call('RPUSH', list, ARGV[i + 1] .. ARGV[i + 2])
  else
    redis.call('SET', head, ARGV[i + 1])
    redis.call('XADD', KEYS[1], '*', 'd', ARGV[i + 2])
    sent = sent + 1
  end
end
return sent
