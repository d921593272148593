-- Renew live claim ARGV[3] until ARGV[4], its messages living at least until ARGV[5]: 1, or 0
-- when the claim is unknown or expired.
local cid, until_, life = ARGV[3], ARGV[4], ARGV[5]
if not claim_live(cid) then return 0 end
redis.call('HSET', ckey(cid), 'c', NOW_S, 'e', until_)
redis.call('ZADD', CLAIMS, until_, cid)
for _, id in ipairs(claim_ids(cid)) do
  if holds(cid, id) then
    redis.call('HSET', mkey(id), 'ce', until_)
    extend(id, life)
    redis.call('ZADD', CLAIMED, until_, id)
  end
end
return 1
