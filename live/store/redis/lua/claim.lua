-- Tap to buy: the claims a worker received for one room in one turn of its event loop,
-- each decided and committed in arrival order, each with its own outcome, all in one
-- atomic step (live/store/redis/hot.py builds the arguments; live/store/base.py,
-- Store.claim, says what a claim is).
--
-- KEYS: COUNTS (the releases' counters), SEQ, LOG, ARCHIVE, OFF_SALE (the room's bag:
--   sku -> 1 while off sale), KEYIDX (holds by "<viewer>\0<key>"), HOLDS (the records),
--   IN_RELEASE, OF_PRODUCT (the holds' sums), then the keys the holds' writes name.
-- ARGV: window, count, then for each claim: release, sku, idempotency value, its
--   in-release and of-product groups, qty, now, admitted (1/0), starts_at, limit,
--   product limit (0: none), hold id, the hold's writes (count, then op, key index,
--   field, value), the `sold_out` event (data with "seq":0), its audience.
-- Answers, for each claim: outcome, the hold (JSON, or ""), units left, the seq of its
-- `sold_out` event (0: none) and that event's data ("").
local COUNTS, SEQ, LOG, ARCHIVE, OFF_SALE, KEYIDX, HOLDS, IN_RELEASE, OF_PRODUCT =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local i = 1
local function arg() i = i + 1; return ARGV[i - 1] end
local function left_of(release) return tonumber(redis.call('HGET', COUNTS, release .. ':left') or '0') end
local window, count = tonumber(arg()), tonumber(arg())
local out = {}
for _ = 1, count do
  local release, sku, idem, in_group, of_group = arg(), arg(), arg(), arg(), arg()
  local qty, now, admitted, starts_at = tonumber(arg()), arg(), arg() == '1', tonumber(arg())
  local limit, product_limit, hold_id = tonumber(arg()), tonumber(arg()), arg()
  local writes = {}
  for w = 1, tonumber(arg()) do writes[w] = {arg(), KEYS[tonumber(arg())], arg(), arg()} end
  local sold_out, audience = arg(), arg()
  local outcome, hold, seq, event = nil, '', 0, ''
  local done = redis.call('HGET', KEYIDX, idem)
  if done then
    hold = redis.call('HGET', HOLDS, done)
    out[#out + 1] = 'claimed'; out[#out + 1] = hold
    out[#out + 1] = left_of(cjson.decode(hold).release); out[#out + 1] = 0; out[#out + 1] = ''
  else
    if redis.call('HGET', OFF_SALE, sku) == '1' then
      outcome = 'closed'
    else
      if product_limit == 0 then product_limit = nil end
      outcome = decide_claim(
        tonumber(redis.call('HGET', COUNTS, release .. ':closed_at') or '0') ~= 0, starts_at, left_of(release),
        tonumber(now), admitted, qty, limit, tonumber(redis.call('HGET', IN_RELEASE, in_group) or '0'),
        product_limit, tonumber(redis.call('HGET', OF_PRODUCT, of_group) or '0'))
    end
    if outcome == 'claimed' then
      redis.call('HINCRBY', COUNTS, release .. ':left', -qty)
      redis.call('HINCRBY', COUNTS, release .. ':held', qty)
      for _, w in ipairs(writes) do apply(w[1], w[2], w[3], w[4]) end
      hold = redis.call('HGET', HOLDS, hold_id)
      if left_of(release) == 0 and tonumber(redis.call('HGET', COUNTS, release .. ':sold_out_at') or '0') == 0 then
        redis.call('HSET', COUNTS, release .. ':sold_out_at', now)
        seq, event = append(SEQ, LOG, ARCHIVE, window, 'sold_out', audience, now, sold_out)
      end
    end
    out[#out + 1] = outcome; out[#out + 1] = hold; out[#out + 1] = left_of(release)
    out[#out + 1] = seq; out[#out + 1] = event
  end
end
return out
