-- What a script checks before its first write. Redis does not undo a
-- script's writes when a later command fails, so a script checks first
-- that every key it writes is absent or of the type it writes, and fails
-- with nothing written otherwise (the caller tries again later; what it
-- was settling stays pending).

local function expect_type(key, wanted)
  local held = redis.call('TYPE', key).ok
  if held ~= 'none' and held ~= wanted then
    error({err = 'WRONGTYPE ' .. key .. ' holds a ' .. held .. ', not a ' .. wanted ..
      '; nothing was written: remove or rename that key'})
  end
end

-- Checks that `field` of hash `key` holds an integer, or nothing.
local function expect_integer_field(key, field)
  local held = redis.call('HGET', key, field)
  if held and not string.match(held, '^%-?%d+$') then
    error({err = 'ERR field ' .. field .. ' of ' .. key .. ' is not an integer; nothing was written'})
  end
end

