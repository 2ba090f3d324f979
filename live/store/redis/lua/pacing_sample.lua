-- One reading of a room's numbers for pacing (its trends and crowd alerts): at most one
-- sample per slot (a second) however many workers observe the room, the latest reading
-- of a slot replacing the one before it; a reading older than the last sample's slot
-- (a worker's clock behind) is dropped. The list keeps the last `kept` samples.
-- KEYS[1] the room's samples list, of "t,online,entries,exits".
-- ARGV: t, the sample, kept, the slot in ms.
local t, sample, kept, slot = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local last = redis.call('LINDEX', KEYS[1], -1)
if last then
  local last_slot = math.floor(tonumber(string.match(last, '^%-?%d+')) / slot)
  local this_slot = math.floor(t / slot)
  if last_slot > this_slot then return 0 end
  if last_slot == this_slot then
    redis.call('LSET', KEYS[1], -1, sample)
    return 1
  end
end
redis.call('RPUSH', KEYS[1], sample)
redis.call('LTRIM', KEYS[1], -kept, -1)
return 1
