-- Delete up to ARGV[3] expired messages and as many expired claims:
-- {messages, claims, 1 when nothing is left of the queue (not even the queue) else 0}.
local batch = ARGV[3]
local ids = redis.call('ZRANGEBYSCORE', EXP, '-inf', NOW_S, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do drop(id) end
local cids = redis.call('ZRANGEBYSCORE', CLAIMS, '-inf', NOW_S, 'LIMIT', 0, batch)
for _, cid in ipairs(cids) do
  redis.call('DEL', ckey(cid))
  redis.call('ZREM', CLAIMS, cid)
end
local gone = 0
if redis.call('EXISTS', Q, IDS, CLAIMS, TRASH) == 0 then gone = 1 end
return {#ids, #cids, gone}
