-- A tracked link, made once per (person, live, product): the first caller's random
-- code wins and every later call gets that same link.
-- KEYS (global tag): LINKS (hash code -> Link), FOR (hash "<owner>\0<room>\0<sku>" ->
-- code), OWNED (list: the owner's codes, oldest first).
-- ARGV: the (owner, room, sku) field, the new code, the new Link (JSON).
-- Answers the code of the link (the existing one if there was), or nil if the new
-- random code is already some other link's (the caller draws another).
local LINKS, FOR, OWNED = KEYS[1], KEYS[2], KEYS[3]
local field, code, link = ARGV[1], ARGV[2], ARGV[3]
local existing = redis.call('HGET', FOR, field)
if existing then return existing end
if redis.call('HSETNX', LINKS, code, link) == 0 then return false end
redis.call('HSET', FOR, field, code)
redis.call('RPUSH', OWNED, code)
return code
