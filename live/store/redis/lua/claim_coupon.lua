-- One coupon into a viewer's pocket, or why not, in one step (live/store/base.py,
-- Store.claim_coupon). KEYS: COUNTS (the coupons' counters), KEYIDX (claims by
-- "<viewer>\0<key>"), CLAIMS (the records), PER_COUPON (the claims' sum), then the
-- keys the claim's writes name.
-- ARGV: coupon, idempotency value, per-coupon group, now, claim_from, claim_until
-- ("" none), admitted (1/0), per_viewer, quantity, claim id, then the claim's writes
-- (op, key index, field, value).
-- Answers {outcome, the claim (JSON) or ""}.
local COUNTS, KEYIDX, CLAIMS, PER_COUPON = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local coupon, idem, group, now, claim_from = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local claim_until = ARGV[6] ~= '' and tonumber(ARGV[6]) or nil
local admitted, per_viewer, quantity, claim_id = ARGV[7] == '1', tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local done = redis.call('HGET', KEYIDX, idem)
if done then return {'claimed', redis.call('HGET', CLAIMS, done)} end
local outcome = decide_coupon(now, claim_from, claim_until, admitted,
  tonumber(redis.call('HGET', PER_COUPON, group) or '0'), per_viewer,
  tonumber(redis.call('HGET', COUNTS, coupon .. ':claimed') or '0'), quantity)
if outcome ~= 'claimed' then return {outcome, ''} end
redis.call('HINCRBY', COUNTS, coupon .. ':claimed', 1)
for w = 11, #ARGV, 4 do apply(ARGV[w], KEYS[tonumber(ARGV[w + 1])], ARGV[w + 2], ARGV[w + 3]) end
return {'claimed', redis.call('HGET', CLAIMS, claim_id)}
