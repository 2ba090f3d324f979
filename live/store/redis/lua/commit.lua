-- One atomic change of a room: check what the caller read, write, append its events.
--
-- KEYS[1] the room's seq counter, KEYS[2] its log stream, KEYS[3] its archive list,
-- KEYS[4..] the record keys the change reads or writes (all under the room's hash tag).
-- ARGV: window, then a count and that many checks (key index, field, expected value;
-- "\0" means the field must be absent), then a count and that many writes
-- (op, key index, field, value), then a count and that many events
-- (kind, audience, ts, data encoded with "seq":0 for the script to number).
-- A failed check changes nothing and answers CONFLICT: the caller reads again and
-- decides again. Answers {first seq, last seq} of the events written (0, seq if none).
local window = tonumber(ARGV[1])
local i = 2
local checks = tonumber(ARGV[i]); i = i + 1
for _ = 1, checks do
  local key, field, expected = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local current = redis.call('HGET', key, field)
  if expected == '\0' then
    if current then return redis.error_reply('CONFLICT ' .. key .. ' ' .. field) end
  elseif current ~= expected then
    return redis.error_reply('CONFLICT ' .. key .. ' ' .. field)
  end
end
local writes = tonumber(ARGV[i]); i = i + 1
for _ = 1, writes do
  local op, key, field, value = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  if op == 'hset' then redis.call('HSET', key, field, value)
  elseif op == 'hdel' then redis.call('HDEL', key, field)
  elseif op == 'hincrby' then redis.call('HINCRBY', key, field, value)
  elseif op == 'rpush' then redis.call('RPUSH', key, value)
  elseif op == 'sadd' then redis.call('SADD', key, value)
  elseif op == 'srem' then redis.call('SREM', key, value)
  elseif op == 'set' then redis.call('SET', key, value)
  else return redis.error_reply('BADOP ' .. op) end
end
local events = tonumber(ARGV[i]); i = i + 1
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local first = seq + 1
for _ = 1, events do
  local kind, audience, ts, data = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  seq = seq + 1
  local at = string.find(data, '"seq":0,', 1, true)
  if at then data = string.sub(data, 1, at + 5) .. seq .. string.sub(data, at + 7) end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', window, '0-' .. seq, 'k', kind, 'a', audience, 't', ts, 'd', data)
  redis.call('RPUSH', KEYS[3], cmsgpack.pack({seq, tonumber(ts), kind, audience, data}))
end
if events > 0 then redis.call('SET', KEYS[1], seq) else first = 0 end
return {first, seq}
