-- A viewer's first connection on this worker: note it, and open a session unless one
-- is open (a tab on another worker, or a reconnect that landed here first).
-- KEYS: SESSIONS, N, MIN, TALLY, SEEN (HyperLogLog of viewers), ON (this worker's
-- viewers), WORKERS (workers with viewers here), BROUGHT (set of "<guide>\0<viewer>").
-- ARGV: viewer, now, worker, guide ("" for nobody).
local SESSIONS, N, MIN, TALLY, SEEN, ON, WORKERS, BROUGHT = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local viewer, now, worker, guide = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
redis.call('SADD', ON, viewer)
redis.call('SADD', WORKERS, worker)
if redis.call('HEXISTS', SESSIONS, viewer) == 1 then return 0 end
redis.call('HSET', SESSIONS, viewer, cmsgpack.pack({now, guide, worker}))
redis.call('PFADD', SEEN, viewer)
local t = minute(N, MIN, now)
local online = redis.call('HINCRBY', N, 'online', 1)
redis.call('HINCRBY', N, 'entries', 1)
redis.call('HINCRBY', N, 'open_sum', now)
redis.call('HINCRBY', MIN, t .. ':entries', 1)
set_online(N, MIN, t, online)
if guide ~= '' then
  if redis.call('SADD', BROUGHT, guide .. '\0' .. viewer) == 1 then
    redis.call('HINCRBY', TALLY, guide .. ':brought', 1)
  end
  redis.call('HINCRBY', TALLY, guide .. ':watching', 1)
  redis.call('HINCRBY', TALLY, guide .. ':sessions', 1)
  redis.call('HINCRBY', TALLY, guide .. ':open_started', now)
end
return 1
