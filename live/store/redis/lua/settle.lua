-- One atomic change of a room's commerce books: commit.lua's checks, writes and
-- numbered events, plus what moving units needs on top of it, so that the counters
-- claim.lua changes concurrently are never read in Python and written back:
--   guards  conditions on counters ("absent", "min" n, "max" n), checked in Redis: a
--           failed guard changes nothing and answers {-1, its number} (a refusal, not a
--           conflict: the op says no rather than deciding again);
--   writes  commit.lua's, plus "zadd" (field: member, value: score), "zrem" and "hmove"
--           (all of field into field `value` of the same hash; the units are answered);
--   events  each with an optional condition "<key index>:<release>": written only if
--           the release has nothing left and had never sold out (then sold_out_at is
--           set), and "fills": placeholders in the data replaced by a hash field's value
--           after the writes (counters as they stand when the event is numbered).
--
-- KEYS[1] seq, KEYS[2] log, KEYS[3] archive, KEYS[4..] the room's record keys.
-- ARGV: window; checks (count, then key index, field, expected or "\0" for absent);
-- guards (count, then key index, field, op, n); writes (count, then op, key index,
-- field, value); events (count, then kind, audience, ts, data with "seq":0, condition,
-- fill count, then placeholder, key index, field, default).
-- Answers {first seq (0: none), last seq, n, n moved units..., then for each event
-- written: its number in the change and its data}.
local window = tonumber(ARGV[1])
local i = 2
local function key(n) return KEYS[tonumber(n)] end

local checks = tonumber(ARGV[i]); i = i + 1
for _ = 1, checks do
  local k, field, expected = key(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local current = redis.call('HGET', k, field)
  if expected == '\0' then
    if current then return redis.error_reply('CONFLICT ' .. k .. ' ' .. field) end
  elseif current ~= expected then
    return redis.error_reply('CONFLICT ' .. k .. ' ' .. field)
  end
end

local guards = tonumber(ARGV[i]); i = i + 1
for g = 1, guards do
  local k, field, op, n = key(ARGV[i]), ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local raw = redis.call('HGET', k, field)
  local ok
  if op == 'absent' then ok = not raw
  elseif op == 'min' then ok = tonumber(raw or '0') >= n
  else ok = tonumber(raw or '0') <= n end
  if not ok then return {-1, g} end
end

local moved = {}
local writes = tonumber(ARGV[i]); i = i + 1
for _ = 1, writes do
  local op, k, field, value = ARGV[i], key(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  if op == 'hset' then redis.call('HSET', k, field, value)
  elseif op == 'hdel' then redis.call('HDEL', k, field)
  elseif op == 'hincrby' then redis.call('HINCRBY', k, field, value)
  elseif op == 'rpush' then redis.call('RPUSH', k, value)
  elseif op == 'sadd' then redis.call('SADD', k, value)
  elseif op == 'srem' then redis.call('SREM', k, value)
  elseif op == 'set' then redis.call('SET', k, value)
  elseif op == 'zadd' then redis.call('ZADD', k, value, field)
  elseif op == 'zrem' then redis.call('ZREM', k, field)
  elseif op == 'hmove' then
    local units = tonumber(redis.call('HGET', k, field) or '0')
    redis.call('HSET', k, field, 0)
    redis.call('HINCRBY', k, value, units)
    moved[#moved + 1] = units
  else return redis.error_reply('BADOP ' .. op) end
end

local out = {0, 0, #moved}
for _, units in ipairs(moved) do out[#out + 1] = units end
local events = tonumber(ARGV[i]); i = i + 1
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local first = seq + 1
for e = 1, events do
  local kind, audience, ts, data, when, fills = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  i = i + 6
  local emit = true
  if when ~= '' then
    local at = string.find(when, ':', 1, true)
    local k, release = key(string.sub(when, 1, at - 1)), string.sub(when, at + 1)
    emit = redis.call('HGET', k, release .. ':left') == '0' and redis.call('HSETNX', k, release .. ':sold_out_at', ts) == 1
  end
  for _ = 1, fills do
    local mark, k, field, default = ARGV[i], key(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local at = string.find(data, mark, 1, true)
    if emit and at then
      data = string.sub(data, 1, at - 1) .. (redis.call('HGET', k, field) or default) .. string.sub(data, at + #mark)
    end
  end
  if emit then
    seq = seq + 1
    local at = string.find(data, '"seq":0,', 1, true)
    if at then data = string.sub(data, 1, at + 5) .. seq .. string.sub(data, at + 7) end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', window, '0-' .. seq, 'k', kind, 'a', audience, 't', ts, 'd', data)
    redis.call('RPUSH', KEYS[3], cmsgpack.pack({seq, tonumber(ts), kind, audience, data}))
    out[#out + 1] = e
    out[#out + 1] = data
  end
end
if seq >= first then
  redis.call('SET', KEYS[1], seq)
  out[1] = first
end
out[2] = seq
return out
