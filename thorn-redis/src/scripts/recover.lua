-- recover: hands a worker back the entries the group handed to its
-- consumer earlier and that it does not have in flight: those of a read
-- whose reply was lost with its connection, or of a previous run under the
-- same consumer name that died holding them.
--
-- Each is claimed again by the same consumer (XCLAIM without JUSTID), which
-- raises its delivery count by one: the worker that had it never settled
-- it, so it counts as a handover toward the poison limit, like a reclaim.
-- The entries in flight in this worker are skipped and keep their count:
-- re-reading them (XREADGROUP from 0) would raise it on every pass while
-- they are being delivered, so that a healthy entry could reach the limit
-- and, after a later crash, be dead-lettered undelivered.
--
-- KEYS[1]  the stream            thorn:{queue}:stream
-- ARGV[1]  the consumer group
-- ARGV[2]  this worker's consumer name
-- ARGV[3]  where to start in its pending list: "-", or "(" and the id to
--          go on after
-- ARGV[4]  how many entries to hand back at most (1 or more)
-- ARGV[5 ..] the ids of the entries in flight in this worker
--
-- Returns { the last id looked at, or "" when the pending list was read
-- to its end; the entries handed back, each { id, fields }, or { id } when
-- it was deleted from the stream while pending; their delivery counts, in
-- the same order }.
local count = tonumber(ARGV[4])
local in_flight = {}
for i = 5, #ARGV do
  in_flight[ARGV[i]] = true
end
-- A page holds `count` entries besides those in flight.
local page = count + #ARGV - 4
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], '+', page, ARGV[2])
local entries, counts = {}, {}
local last = ''
local ended = #pending < page
for _, p in ipairs(pending) do
  if #entries >= count then
    ended = false
    break
  end
  local id = p[1]
  last = id
  if not in_flight[id] then
    local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
    if claimed[1] then
      entries[#entries + 1] = claimed[1]
      counts[#counts + 1] = p[4] + 1
    else
      -- Deleted: Redis 7 drops it from the pending list, Redis 6.2 answers
      -- nil; either way it is only to be acknowledged.
      entries[#entries + 1] = { id }
      counts[#counts + 1] = p[4]
    end
  end
end
if ended then
  last = ''
end
return { last, entries, counts }
