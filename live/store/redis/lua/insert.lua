-- Write a record unless its key is taken: a global record a room's change writes
-- before or after its own commit (a hint, a reservation, when a viewer first paid).
-- KEYS[1] the table's records hash, KEYS[2..] the keys of the record's other writes.
-- ARGV: key, record, then (op, key index, field, value) writes (lib.lua's apply).
-- Answers the record that holds the key already, or false (written now).
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then return held end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 3, #ARGV, 4 do apply(ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]) end
return false
