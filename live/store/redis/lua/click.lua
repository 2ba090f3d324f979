-- Clicks on tracked links made in one turn of a worker's event loop, each counted
-- unless the same viewer's last counted click on the same link is younger than the
-- window (counts_click, in rules.lua; the hot path of every shared link), durable
-- before the redirects answer.
-- KEYS (global tag): then the keys the clicks' writes name. ARGV: count, then for each
-- click: the key of its "last" index (zset of the viewer's clicks on that link, by
-- time) as a key index, now, window (ms), then its writes (count, then op, key index,
-- field, value). Answers 1 (counted) or 0 per click.
local i = 1
local function arg() i = i + 1; return ARGV[i - 1] end
local out = {}
for c = 1, tonumber(arg()) do
  local last, now, window = KEYS[tonumber(arg())], tonumber(arg()), tonumber(arg())
  local writes = {}
  for w = 1, tonumber(arg()) do writes[w] = {arg(), KEYS[tonumber(arg())], arg(), arg()} end
  local newest = redis.call('ZRANGE', last, 0, 0, 'REV', 'WITHSCORES')
  if counts_click(newest[2] and tonumber(newest[2]), now, window) then
    for _, w in ipairs(writes) do apply(w[1], w[2], w[3], w[4]) end
    out[c] = 1
  else
    out[c] = 0
  end
end
return out
