-- Release claim ARGV[3]: the messages it holds are free at once.
local cid = ARGV[3]
if not redis.call('ZSCORE', CLAIMS, cid) then return 'OK' end
for _, id in ipairs(claim_ids(cid)) do
  local fields = redis.call('HMGET', mkey(id), 's', 'ci')
  if fields[1] and fields[2] == cid then
    redis.call('HSET', mkey(id), 'ci', '', 'ce', '0')
    redis.call('ZREM', CLAIMED, id)
    redis.call('ZADD', FREE, fields[1], id)
  end
end
redis.call('DEL', ckey(cid))
redis.call('ZREM', CLAIMS, cid)
return 'OK'
