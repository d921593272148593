-- Delete up to ARGV[3] expired subscriptions: {how many, how many subscriptions are left}.
local ids = redis.call('ZRANGEBYSCORE', SUBEXP, '-inf', NOW_S, 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do drop(id) end
return {#ids, redis.call('ZCARD', SUBS)}
