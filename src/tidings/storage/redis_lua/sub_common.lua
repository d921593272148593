-- Prepended to the subscription scripts (sub_*.lua). KEYS are one source's subscription keys:
-- its ids (zset, all scores 0, so sorted by id), their expiry (zset) and subscriber -> id
-- (hash). ARGV[1] is the source's key prefix and ARGV[2] the caller's clock. A subscription
-- is the hash P..'s:'..id: subscriber u, created c, expires e, options o (JSON), confirmed f
-- ('0'/'1'), secret k, TTL t (absent in those made before it was kept).
local SUBS, SUBEXP, SUBU = KEYS[1], KEYS[2], KEYS[3]
local P, NOW_S = ARGV[1], ARGV[2]
local NOW = tonumber(NOW_S)
local FIELDS = {'u', 'c', 'e', 'o', 'f', 'k', 't'}

local function skey(id) return P .. 's:' .. id end

-- {id, subscriber, created, expires, options, confirmed, secret, ttl or false}, or nil.
local function record(id)
  local r = redis.call('HMGET', skey(id), unpack(FIELDS))
  if not r[1] then return nil end
  table.insert(r, 1, id)
  return r
end

local function live(id)
  local r = record(id)
  if r and tonumber(r[4]) > NOW then return r end
  return nil
end

local function drop(id)
  local subscriber = redis.call('HGET', skey(id), 'u')
  if subscriber and redis.call('HGET', SUBU, subscriber) == id then
    redis.call('HDEL', SUBU, subscriber)
  end
  redis.call('DEL', skey(id))
  redis.call('ZREM', SUBS, id)
  redis.call('ZREM', SUBEXP, id)
  context_changed(P)
end

-- The live subscription of subscriber, after dropping an expired one.
local function holder(subscriber)
  local id = redis.call('HGET', SUBU, subscriber)
  if not id then return nil end
  local r = live(id)
  if not r then drop(id) end
  return r
end

