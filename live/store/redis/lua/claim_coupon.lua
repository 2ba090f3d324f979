-- Take a coupon into a viewer's pocket, or say why not, in one step. Checks in the
-- local store's order: a key this viewer used before -> "claimed" with that claim;
-- then the verdict Python worked out from the coupon's window and audience
-- ("not_open", "ended", "not_eligible"; "" if none); then "limit_reached" (this
-- viewer's claims of it, a standing counter) and "gone" (all claimed). No event.
--
-- KEYS: COUPON_KEYS ("<viewer>\0<key>" -> claim id), STANDING ("<viewer>\0c:<coupon>"
--   -> claims), COUNTS ("<coupon>:claimed"), CLAIMS (id -> CouponClaim), MINE (the
--   viewer's claims, in order).
-- ARGV: coupon, viewer, key, verdict, per_viewer, quantity, claim id, claim (JSON).
-- Answers {outcome, claim JSON or ""}.
local COUPON_KEYS, STANDING, COUNTS, CLAIMS, MINE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local coupon, viewer, key, verdict = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local per_viewer, quantity, claim_id, claim = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]

local done = redis.call('HGET', COUPON_KEYS, viewer .. '\0' .. key)
if done then return {'claimed', redis.call('HGET', CLAIMS, done)} end
if verdict ~= '' then return {verdict, ''} end
local mine = viewer .. '\0c:' .. coupon
if tonumber(redis.call('HGET', STANDING, mine) or '0') >= per_viewer then return {'limit_reached', ''} end
if tonumber(redis.call('HGET', COUNTS, coupon .. ':claimed') or '0') >= quantity then return {'gone', ''} end
redis.call('HINCRBY', STANDING, mine, 1)
redis.call('HINCRBY', COUNTS, coupon .. ':claimed', 1)
redis.call('HSET', CLAIMS, claim_id, claim)
redis.call('HSET', COUPON_KEYS, viewer .. '\0' .. key, claim_id)
redis.call('RPUSH', MINE, claim_id)
return {'claimed', claim}
