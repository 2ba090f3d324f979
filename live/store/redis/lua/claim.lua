-- Tap to buy: hold `qty` units of a release for a viewer, or say why not, in one step.
--
-- The checks run in the order of live/domain/releases.decide_claim (after the
-- idempotency key and the product being on sale, as in the local store), so both
-- stores give the same outcome:
--   a key this viewer used before -> "claimed" with the hold it got (whatever it asks now)
--   the product is off sale       -> "closed"
--   the release is closed         -> "closed"
--   before starts_at              -> "not_open"
--   outside the audience          -> "not_eligible" (the verdict comes from Python: audience.admits)
--   past a per-viewer limit       -> "limit_reached" (per release and per product, standing counters)
--   fewer units left than asked   -> "sold_out"
-- A claim moves `qty` from left to held and, when it took the last units of a release
-- that never sold out before, records sold_out_at and appends the `sold_out` event
-- (numbered as commit.lua numbers events).
--
-- KEYS: COUNTS ("<release>:left|held|sold|returned|closed_at|sold_out_at"),
--   HOLD_KEYS ("<viewer>\0<key>" -> hold id), STANDING ("<viewer>\0r:<release>" and
--   "<viewer>\0s:<sku>" -> units held or bought), STATE (off_sale), HOLDS (id -> Hold),
--   EXPIRY (open holds by expiry), MINE (the viewer's holds, in order), SEQ, LOG, ARCHIVE.
-- ARGV: release, viewer, key, qty, now, admitted (1/0), sku, starts_at, limit,
--   product limit (0: none), hold id, hold (JSON), audience, sold_out event (JSON with
--   "seq":0), expires_at, log window.
-- Answers {outcome, hold JSON or "", left of the hold's release, first seq, last seq}.
local COUNTS, HOLD_KEYS, STANDING, STATE, HOLDS, EXPIRY, MINE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local SEQ, LOG, ARCHIVE = KEYS[8], KEYS[9], KEYS[10]
local release, viewer, key, qty, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local admitted, sku, starts_at, limit = ARGV[6] == '1', ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local product_limit, hold_id, hold, audience = tonumber(ARGV[10]), ARGV[11], ARGV[12], ARGV[13]
local sold_out, expires_at, window = ARGV[14], tonumber(ARGV[15]), tonumber(ARGV[16])

local function left_of(r)
  return tonumber(redis.call('HGET', COUNTS, r .. ':left') or '0')
end

local done = redis.call('HGET', HOLD_KEYS, viewer .. '\0' .. key)
if done then
  local raw = redis.call('HGET', HOLDS, done)
  return {'claimed', raw, left_of(cjson.decode(raw).release), 0, 0}
end
local left = left_of(release)
local off = redis.call('HGET', STATE, 'off_sale')
if off then
  for _, s in ipairs(cjson.decode(off)) do
    if s == sku then return {'closed', '', left, 0, 0} end
  end
end
if redis.call('HEXISTS', COUNTS, release .. ':closed_at') == 1 then return {'closed', '', left, 0, 0} end
if now < starts_at then return {'not_open', '', left, 0, 0} end
if not admitted then return {'not_eligible', '', left, 0, 0} end
local in_release = viewer .. '\0r:' .. release
local of_product = viewer .. '\0s:' .. sku
if tonumber(redis.call('HGET', STANDING, in_release) or '0') + qty > limit
  or (product_limit > 0 and tonumber(redis.call('HGET', STANDING, of_product) or '0') + qty > product_limit) then
  return {'limit_reached', '', left, 0, 0}
end
if left < qty then return {'sold_out', '', left, 0, 0} end

left = redis.call('HINCRBY', COUNTS, release .. ':left', -qty)
redis.call('HINCRBY', COUNTS, release .. ':held', qty)
redis.call('HINCRBY', STANDING, in_release, qty)
redis.call('HINCRBY', STANDING, of_product, qty)
redis.call('HSET', HOLDS, hold_id, hold)
redis.call('HSET', HOLD_KEYS, viewer .. '\0' .. key, hold_id)
redis.call('ZADD', EXPIRY, expires_at, hold_id)
redis.call('RPUSH', MINE, hold_id)
if left == 0 and redis.call('HSETNX', COUNTS, release .. ':sold_out_at', ARGV[5]) == 1 then
  local seq = redis.call('INCR', SEQ)
  local at = string.find(sold_out, '"seq":0,', 1, true)
  local data = string.sub(sold_out, 1, at + 5) .. seq .. string.sub(sold_out, at + 7)
  redis.call('XADD', LOG, 'MAXLEN', '~', window, '0-' .. seq, 'k', 'sold_out', 'a', audience, 't', ARGV[5], 'd', data)
  redis.call('RPUSH', ARCHIVE, cmsgpack.pack({seq, tonumber(ARGV[5]), "sold_out", audience, data}))  -- as commit.lua stores it
  return {'claimed', hold, left, seq, seq}
end
return {'claimed', hold, left, 0, 0}
