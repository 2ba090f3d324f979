-- One change, all of it or nothing (live/store/tx.py says what a change is; writes.py
-- builds these arguments from it).
--
-- KEYS[1] the room's seq, KEYS[2] its log, KEYS[3] its archive (placeholders of the
-- global tag for a global change), KEYS[4..] every key the change reads or writes, all
-- under one hash tag.
-- ARGV, each list a count and that many items:
--   window (events kept in the log)
--   checks    (key, field, expected): what the op read is still so ("\0": still absent;
--             "\1": a counter still 0 or absent), else CONFLICT (the op reads again
--             and decides again)
--   uniques   (key, value, owner): a unique index maps `value` to nobody or to `owner`,
--             else CONFLICT
--   requires  (key, field, "min"|"max", n): else the op is refused: answers {-1, i}
--   writes    (op, key, field, value): lib.lua's apply(), plus "move": all of `field`
--             into field `value` of the same hash (the units moved are answered)
--   events    (kind, audience, ts, data, zero key or "", zero field, mark field,
--             fills, then that many (placeholder, key, field)): appended to the log in
--             order; with a zero key, only if that counter is 0 and the mark was 0
--             (which it then becomes: ts); a placeholder in the data becomes the
--             field's value after the writes.
-- Answers {0, moved count, moved units..., then for each event appended: its number
-- in the change, its seq and its data}.
local i = 1
local function arg() i = i + 1; return ARGV[i - 1] end
local function key() return KEYS[tonumber(arg())] end
local window = tonumber(arg())

for _ = 1, tonumber(arg()) do
  local k, field, expected = key(), arg(), arg()
  local current = redis.call('HGET', k, field)
  local holds
  if expected == '\0' then holds = not current
  elseif expected == '\1' then holds = not current or tonumber(current) == 0
  else holds = current == expected end
  if not holds then return redis.error_reply('CONFLICT ' .. k .. ' ' .. field) end
end
for _ = 1, tonumber(arg()) do
  local k, value, owner = key(), arg(), arg()
  local current = redis.call('HGET', k, value)
  if current and current ~= owner then return redis.error_reply('CONFLICT ' .. k .. ' ' .. value) end
end
for r = 1, tonumber(arg()) do
  local k, field, op, n = key(), arg(), arg(), tonumber(arg())
  local value = tonumber(redis.call('HGET', k, field) or '0')
  if (op == 'min' and value < n) or (op == 'max' and value > n) then return {-1, r} end
end

local moved = {}
for _ = 1, tonumber(arg()) do
  local op, k, field, value = arg(), key(), arg(), arg()
  if op == 'move' then
    local units = tonumber(redis.call('HGET', k, field) or '0')
    redis.call('HSET', k, field, 0)
    redis.call('HINCRBY', k, value, units)
    moved[#moved + 1] = units
  else
    apply(op, k, field, value)
  end
end

local out = {0, #moved}
for _, units in ipairs(moved) do out[#out + 1] = units end
for e = 1, tonumber(arg()) do
  local kind, audience, ts, data = arg(), arg(), arg(), arg()
  local zero_key, zero_field, mark_field = arg(), arg(), arg()
  local emit = true
  if zero_key ~= '' then
    local counters = KEYS[tonumber(zero_key)]
    emit = tonumber(redis.call('HGET', counters, zero_field) or '0') == 0
      and tonumber(redis.call('HGET', counters, mark_field) or '0') == 0
    if emit then redis.call('HSET', counters, mark_field, ts) end
  end
  for _ = 1, tonumber(arg()) do
    local mark, k, field = arg(), key(), arg()
    local at = string.find(data, mark, 1, true)
    if emit and at then
      data = string.sub(data, 1, at - 1) .. (redis.call('HGET', k, field) or '0') .. string.sub(data, at + #mark)
    end
  end
  if emit then
    local seq
    seq, data = append(KEYS[1], KEYS[2], KEYS[3], window, kind, audience, ts, data)
    out[#out + 1] = e
    out[#out + 1] = seq
    out[#out + 1] = data
  end
end
return out
