-- The helpers every store script starts with.
--
-- KEYS[1]  the subscriptions     thorn:{store}:subs (hash: id -> JSON)
-- KEYS[2]  the version counter   thorn:{store}:subs-version
-- KEYS[3]  the revisions         thorn:{store}:subs-revision (hash: id -> n)
-- KEYS[4]  owners' counts        thorn:{store}:subs-owners (hash: owner -> n)
-- KEYS[5]  whether KEYS[4] is complete  thorn:{store}:subs-counted
--
-- The counts are made from the subscriptions the first time a script
-- needs them (a store written before they were kept has none), then kept
-- by every write.

local function owner_of(json)
  if not json then
    return nil
  end
  local ok, sub = pcall(cjson.decode, json)
  if ok and type(sub) == 'table' and type(sub.owner) == 'string' then
    return sub.owner
  end
  return nil
end

local function ensure_counts()
  if redis.call('EXISTS', KEYS[5]) == 1 then
    return
  end
  redis.call('DEL', KEYS[4])
  for _, json in ipairs(redis.call('HVALS', KEYS[1])) do
    local owner = owner_of(json)
    if owner then
      redis.call('HINCRBY', KEYS[4], owner, 1)
    end
  end
  redis.call('SET', KEYS[5], '1')
end

local function recount(old_owner, new_owner)
  if old_owner == new_owner then
    return
  end
  if old_owner and redis.call('HINCRBY', KEYS[4], old_owner, -1) <= 0 then
    redis.call('HDEL', KEYS[4], old_owner)
  end
  if new_owner then
    redis.call('HINCRBY', KEYS[4], new_owner, 1)
  end
end

-- Writes subscription `id` as `json` over `old` (its stored JSON or nil);
-- its new revision.
local function write(id, json, old)
  ensure_counts()
  recount(owner_of(old), owner_of(json))
  redis.call('HSET', KEYS[1], id, json)
  local revision = redis.call('HINCRBY', KEYS[3], id, 1)
  redis.call('INCR', KEYS[2])
  return revision
end

