-- A payout takes ledger entries: each entry at most once, whoever else pays out at the
-- same time. KEYS (global tag): MARKS (hash entry id -> payout id), PAYOUTS (hash payout
-- id -> record). ARGV: payout id, its record (JSON), then the entry ids it takes.
-- Answers 1, or 0 (nothing written) if any of them was taken by another payout since
-- the caller read them: the caller reads again.
local MARKS, PAYOUTS = KEYS[1], KEYS[2]
for i = 3, #ARGV do
  if redis.call('HEXISTS', MARKS, ARGV[i]) == 1 then return 0 end
end
for i = 3, #ARGV do
  redis.call('HSET', MARKS, ARGV[i], ARGV[1])
end
redis.call('HSET', PAYOUTS, ARGV[1], ARGV[2])
return 1
