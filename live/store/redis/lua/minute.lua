-- Open the bucket of the minute of `at` if it has none yet (lib.lua's minute()), so a
-- payment counted in it with HINCRBY lands in a bucket that shows the online count.
-- KEYS: N, MIN. ARGV: at.
minute(KEYS[1], KEYS[2], tonumber(ARGV[1]))
return 1
