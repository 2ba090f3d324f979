-- A viewer's last connection on this worker ended; their session ends unless another
-- worker still holds one of theirs.
-- KEYS: SESSIONS, N, MIN, TALLY, VISITS, WORKERS.
-- ARGV: viewer, left_at, now, the prefix of the per-worker viewer sets, this worker,
-- the sku on screen.
local viewer, on_prefix, worker = ARGV[1], ARGV[4], ARGV[5]
redis.call('SREM', on_prefix .. worker, viewer)
if held_elsewhere(KEYS[6], on_prefix, viewer, worker) then return 0 end
return end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], viewer, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[6]) and 1 or 0
