-- A viewer's last connection ended. KEYS: SESSIONS, N, MIN, TALLY, VISITS, STATE.
-- ARGV: viewer, left_at, now, the prefix of the per-worker viewer sets.
return end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[4], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) and 1 or 0
