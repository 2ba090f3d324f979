-- Take `n` from a global counter if it holds that many (units out of a product's
-- stock). KEYS[1] the counters hash. ARGV: field, n. Answers {1, left} or {0, what it holds}.
local have = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local n = tonumber(ARGV[2])
if have < n then return {0, have} end
return {1, redis.call('HINCRBY', KEYS[1], ARGV[1], -n)}
