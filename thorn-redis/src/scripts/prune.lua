-- prune: removes the group's consumers that hold no entries and were idle
-- for the ack deadline or longer: workers that died, whose entries were
-- reclaimed since. Without it, the group keeps a name per dead worker
-- forever. A consumer holding entries is kept (deleting it would drop them
-- from the pending list); a live worker removed while it holds none is
-- recreated by its next read. The check and the removal are one step, so a
-- consumer cannot be handed entries in between.
--
-- KEYS[1]  the stream            thorn:{queue}:stream
-- ARGV[1]  the consumer group
-- ARGV[2]  the idle time, in ms, past which a consumer holding nothing goes
-- ARGV[3]  this worker's consumer name (always kept)
--
-- Returns how many consumers were removed.
local removed = 0
local idle_limit = tonumber(ARGV[2])
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f['name'] ~= ARGV[3] and f['pending'] == 0 and f['idle'] >= idle_limit then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
