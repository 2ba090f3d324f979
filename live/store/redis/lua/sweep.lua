-- Forget workers that stopped beating (died): each of their viewers' sessions ends at
-- the worker's last beat, unless a live worker holds a connection of that viewer.
-- KEYS: SESSIONS, N, MIN, TALLY, VISITS, STATE, WORKERS. ARGV: now, the prefix of the
-- per-worker viewer sets, then pairs of (dead worker, its last beat).
local now, on_prefix = tonumber(ARGV[1]), ARGV[2]
for i = 3, #ARGV, 2 do redis.call('SREM', KEYS[7], ARGV[i]) end
local ended = 0
for i = 3, #ARGV, 2 do
  local worker, last = ARGV[i], tonumber(ARGV[i + 1])
  for _, viewer in ipairs(redis.call('SMEMBERS', on_prefix .. worker)) do
    if not held_elsewhere(KEYS[7], on_prefix, viewer, worker)
        and end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], viewer, last, now) then
      ended = ended + 1
    end
  end
  redis.call('DEL', on_prefix .. worker)
end
return ended
