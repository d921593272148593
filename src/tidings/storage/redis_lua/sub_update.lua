-- Change live subscription ARGV[3]: ARGV[4] subscriber, ARGV[5] expires, ARGV[6] options,
-- ARGV[7] confirmed, ARGV[8] TTL, each '' (unchanged) or '=' and the new value. Answers the record, nil
-- when absent, or 'CONFLICT' when the new subscriber has another live subscription.
local id = ARGV[3]
local current = live(id)
if not current then return nil end
local function given(value)
  if value == '' then return nil end
  return string.sub(value, 2)
end
local subscriber, expires = given(ARGV[4]), given(ARGV[5])
local options, confirmed, ttl = given(ARGV[6]), given(ARGV[7]), given(ARGV[8])
if subscriber and subscriber ~= current[2] then
  if holder(subscriber) then return 'CONFLICT' end
  redis.call('HDEL', SUBU, current[2])
  redis.call('HSET', SUBU, subscriber, id)
  redis.call('HSET', skey(id), 'u', subscriber)
end
if expires then
  redis.call('HSET', skey(id), 'e', expires)
  redis.call('ZADD', SUBEXP, expires, id)
end
if ttl then redis.call('HSET', skey(id), 't', ttl) end
if options then redis.call('HSET', skey(id), 'o', options) end
if confirmed then redis.call('HSET', skey(id), 'f', confirmed) end
context_changed(P)
return record(id)
