-- The decisions of the hot primitives, as live/domain/releases.py,
-- live/domain/coupons.py and live/domain/attribution.py make them: Redis must run them
-- inside the script that commits, so they are written twice, and
-- tests/test_claim_rules.py feeds both copies the same cases.

-- live.domain.releases.decide_claim
local function decide_claim(closed, starts_at, left, now, admitted, qty, limit, in_release, product_limit, of_product)
  if closed then return 'closed' end
  if now < starts_at then return 'not_open' end
  if not admitted then return 'not_eligible' end
  if in_release + qty > limit or (product_limit ~= nil and of_product + qty > product_limit) then
    return 'limit_reached'
  end
  if left < qty then return 'sold_out' end
  return 'claimed'
end

-- live.domain.coupons.decide_claim
local function decide_coupon(now, claim_from, claim_until, admitted, mine, per_viewer, claimed, quantity)
  if now < claim_from then return 'not_open' end
  if claim_until ~= nil and now >= claim_until then return 'ended' end
  if not admitted then return 'not_eligible' end
  if mine >= per_viewer then return 'limit_reached' end
  if claimed >= quantity then return 'gone' end
  return 'claimed'
end

-- live.domain.attribution.counts_click: a sliding hour (window) from the viewer's last
-- counted click on the link (nil: none yet)
local function counts_click(last_counted, now, window)
  return last_counted == nil or now - last_counted >= window
end
