-- Move units in or out of a product's stock (the `stock` field of its catalog record),
-- on the global hash tag. Taking never goes below zero: it takes all or nothing.
-- The record is msgspec JSON, so `"stock":<n>` appears once, outside any string (a
-- quote inside a string is escaped), and is replaced in place.
-- KEYS: PRODUCTS. ARGV: sku, delta (negative takes).
-- Answers {1, stock after} or {0, stock now} when there is not enough (-1: no product).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {0, -1} end
local delta = tonumber(ARGV[2])
local s, e, stock = string.find(raw, '"stock":(%d+)')
stock = tonumber(stock or '0')
if stock + delta < 0 then return {0, stock} end
local field = '"stock":' .. (stock + delta)
if s then
  raw = string.sub(raw, 1, s - 1) .. field .. string.sub(raw, e + 1)
else
  raw = string.sub(raw, 1, -2) .. ',' .. field .. '}'
end
redis.call('HSET', KEYS[1], ARGV[1], raw)
return {1, stock + delta}
