-- A click on a tracked link (the hot path of every shared link): counted once per
-- viewer, link and hour, and durable before the redirect answers.
-- KEYS (all under the global tag): LAST (hash "<viewer>\0<code>" -> at of the last
-- counted click), VIEWER (list: the viewer's clicks, oldest first, each msgpack
-- [id, code, owner, room, at]), IDS (the id counters), COUNTS (hash code -> clicks),
-- ROOM (list: the clicks on links to that live, msgpack [owner, viewer, at]),
-- WHO (hash click id -> viewer).
-- ARGV: viewer, code, owner, room, now, dedupe window (ms).
-- Answers the click's id, or nil if this viewer's click on this link was counted less
-- than the window ago.
local LAST, VIEWER, IDS, COUNTS, ROOM, WHO = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local viewer, code, owner, room, now, window = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local seen = viewer .. '\0' .. code
local last = redis.call('HGET', LAST, seen)
if last and now - tonumber(last) < window then return false end
redis.call('HSET', LAST, seen, now)
local id = redis.call('HINCRBY', IDS, 'click', 1)
redis.call('RPUSH', VIEWER, cmsgpack.pack({id, code, owner, room, now}))
redis.call('HINCRBY', COUNTS, code, 1)
redis.call('RPUSH', ROOM, cmsgpack.pack({owner, viewer, now}))
redis.call('HSET', WHO, id, viewer)
return id
