-- Writes of records and figures moved in from another store (`live migrate`), as
-- writes.py builds them from the tables' description: ARGV is a count, then that many
-- (op, key index, field, value) for lib.lua's apply; every key under one hash tag.
local n = tonumber(ARGV[1])
for w = 0, n - 1 do
  local at = 2 + w * 4
  apply(ARGV[at], KEYS[tonumber(ARGV[at + 1])], ARGV[at + 2], ARGV[at + 3])
end
return n
