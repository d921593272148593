-- Subscribe ARGV[4] with id ARGV[3], created ARGV[5], expires ARGV[6], options ARGV[7],
-- secret ARGV[8] and TTL ARGV[9]: {1, record}; or, when the subscriber has a live
-- subscription, {0, record}.
local id, subscriber = ARGV[3], ARGV[4]
local held = holder(subscriber)
if held then return {0, held} end
redis.call('HSET', skey(id), 'u', subscriber, 'c', ARGV[5], 'e', ARGV[6], 'o', ARGV[7],
  'f', '0', 'k', ARGV[8], 't', ARGV[9])
redis.call('ZADD', SUBS, 0, id)
redis.call('ZADD', SUBEXP, ARGV[6], id)
redis.call('HSET', SUBU, subscriber, id)
context_changed(P)
return {1, record(id)}
