-- One reading of a room's numbers for pacing: at most one sample per second however
-- many workers observe the room, the latest reading of a second replacing the one
-- before it; a reading older than the last sample's second is dropped. Answers the
-- last `kept` samples.
-- KEYS[1] the room's samples list, of "t,online,entries,exits".
-- ARGV: t ("" to only read), the sample, kept.
local kept = tonumber(ARGV[3])
if ARGV[1] ~= '' then
  local t, sample = tonumber(ARGV[1]), ARGV[2]
  local last = redis.call('LINDEX', KEYS[1], -1)
  local this = math.floor(t / 1000)
  local before = last and math.floor(tonumber(string.match(last, '^%-?%d+')) / 1000)
  if before and before == this then
    redis.call('LSET', KEYS[1], -1, sample)
  elseif not before or before < this then
    redis.call('RPUSH', KEYS[1], sample)
    redis.call('LTRIM', KEYS[1], -3602, -1)
  end
end
return redis.call('LRANGE', KEYS[1], -kept, -1)
