-- Forget workers that stopped beating (died): each of their viewers' sessions ends at
-- the worker's last beat, unless a live worker holds a connection of that viewer.
-- KEYS: SESSIONS, N, MIN, TALLY, VISITS, WORKERS. ARGV: now, the prefix of the
-- per-worker viewer sets, the sku on screen, then pairs of (dead worker, its last beat).
local now, on_prefix, sku = tonumber(ARGV[1]), ARGV[2], ARGV[3]
for i = 4, #ARGV, 2 do redis.call('SREM', KEYS[6], ARGV[i]) end
local ended = 0
for i = 4, #ARGV, 2 do
  local worker, last = ARGV[i], tonumber(ARGV[i + 1])
  for _, viewer in ipairs(redis.call('SMEMBERS', on_prefix .. worker)) do
    if not held_elsewhere(KEYS[6], on_prefix, viewer, worker)
        and end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], viewer, last, now, sku) then
      ended = ended + 1
    end
  end
  redis.call('DEL', on_prefix .. worker)
end
return ended
