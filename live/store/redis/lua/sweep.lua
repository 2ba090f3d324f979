-- End the sessions of workers that stopped beating (died): each at its last beat.
-- KEYS: SESSIONS, N, MIN, TALLY, VISITS, STATE, WORKERS. ARGV: now, the prefix of the
-- per-worker viewer sets, then pairs of (dead worker, its last beat).
local now, on_prefix = tonumber(ARGV[1]), ARGV[2]
local ended = 0
for i = 3, #ARGV, 2 do
  local worker, last = ARGV[i], tonumber(ARGV[i + 1])
  for _, viewer in ipairs(redis.call('SMEMBERS', on_prefix .. worker)) do
    if end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], on_prefix, viewer, last, now) then
      ended = ended + 1
    end
  end
  redis.call('DEL', on_prefix .. worker)
  redis.call('SREM', KEYS[7], worker)
end
return ended
