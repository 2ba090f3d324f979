-- Shared by every script (prepended to each when it is loaded).

-- One write of a change, as live/store/redis/writes.py describes it.
--   hset / hdel / hincrby  on a hash field
--   sum    HINCRBY, and the field deleted at zero (HLEN counts the groups left)
--   zadd   member `field` with score `value`, or ("" ) after the last one if it is not
--          there yet (an index's keys in the order they came); zrem: member `field`
local function apply(op, key, field, value)
  if op == 'hset' then redis.call('HSET', key, field, value)
  elseif op == 'hdel' then redis.call('HDEL', key, field)
  elseif op == 'hincrby' then redis.call('HINCRBY', key, field, value)
  elseif op == 'sum' then
    if redis.call('HINCRBY', key, field, value) == 0 then redis.call('HDEL', key, field) end
  elseif op == 'zadd' then
    if value == '' then
      if redis.call('ZSCORE', key, field) then return end
      local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      value = last[2] and tonumber(last[2]) + 1 or 1
    end
    redis.call('ZADD', key, value, field)
  elseif op == 'zrem' then redis.call('ZREM', key, field)
  else error('BADOP ' .. op) end
end

-- Append an event to a room's log (SEQ, LOG, ARCHIVE): its data's "seq":0 becomes the
-- room's next seq, which is answered.
local function append(SEQ, LOG, ARCHIVE, window, kind, audience, ts, data)
  local seq = redis.call('INCR', SEQ)
  local at = string.find(data, '"seq":0,', 1, true)
  if at then data = string.sub(data, 1, at + 5) .. seq .. string.sub(data, at + 7) end
  redis.call('XADD', LOG, 'MAXLEN', '~', window, '0-' .. seq, 'k', kind, 'a', audience, 't', ts, 'd', data)
  redis.call('RPUSH', ARCHIVE, cmsgpack.pack({seq, tonumber(ts), kind, audience, data}))
  return seq, data
end

-- A room's numbers live in the hash N (online, peak, entries, exits, likes,
-- dwell_closed, open_sum) and its per-minute buckets in the hash MIN, one field per
-- figure: "<minute>:<figure>" (see live/domain/numbers.py).
local function minute(N, MIN, at)
  local t = at - at % 60000
  if redis.call('HSETNX', MIN, t .. ':online_start', 0) == 1 then
    local online = tonumber(redis.call('HGET', N, 'online') or '0')
    redis.call('HSET', MIN, t .. ':online_start', online, t .. ':online_max', online, t .. ':online_end', online)
  end
  return t
end

local function set_online(N, MIN, t, online)
  redis.call('HSET', MIN, t .. ':online_end', online)
  if online > tonumber(redis.call('HGET', MIN, t .. ':online_max') or '0') then
    redis.call('HSET', MIN, t .. ':online_max', online)
  end
  if online > tonumber(redis.call('HGET', N, 'peak') or '0') then
    redis.call('HSET', N, 'peak', online)
  end
end

-- End `viewer`'s open session at `left_at` (noticed at `now`) with `sku` on screen;
-- false without one. SESSIONS viewer -> msgpack {started, guide, first worker}; TALLY
-- "<guide>:<figure>"; VISITS msgpack {viewer, started, ended, guide, last sku}.
local function end_session(SESSIONS, N, MIN, TALLY, VISITS, viewer, left_at, now, sku)
  local raw = redis.call('HGET', SESSIONS, viewer)
  if not raw then return false end
  local s = cmsgpack.unpack(raw)
  local started, guide = s[1], s[2]
  if left_at < started then left_at = started end
  redis.call('HDEL', SESSIONS, viewer)
  local t = minute(N, MIN, now)
  local online = redis.call('HINCRBY', N, 'online', -1)
  redis.call('HINCRBY', N, 'exits', 1)
  redis.call('HINCRBY', N, 'open_sum', -started)
  redis.call('HINCRBY', N, 'dwell_closed', left_at - started)
  redis.call('HINCRBY', MIN, t .. ':exits', 1)
  set_online(N, MIN, t, online)
  if guide ~= '' then
    redis.call('HINCRBY', TALLY, guide .. ':watching', -1)
    redis.call('HINCRBY', TALLY, guide .. ':open_started', -started)
    redis.call('HINCRBY', TALLY, guide .. ':dwell_closed', left_at - started)
  end
  redis.call('RPUSH', VISITS, cmsgpack.pack({viewer, started, left_at, guide, sku}))
  return true
end

-- Whether a worker in WORKERS other than `except` still holds a connection of `viewer`
-- (each worker's set of viewers is ON_PREFIX .. worker): a viewer with tabs on two
-- workers stays until both are gone.
local function held_elsewhere(WORKERS, on_prefix, viewer, except)
  for _, w in ipairs(redis.call('SMEMBERS', WORKERS)) do
    if w ~= except and redis.call('SISMEMBER', on_prefix .. w, viewer) == 1 then return true end
  end
  return false
end
