-- Claim up to ARGV[6] messages as claim ARGV[3] until ARGV[4]; they live at least until
-- ARGV[5]. A claim id that exists already (a retried call) answers with what it holds.
local cid, until_, life = ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', ckey(cid)) == 1 then return held(cid) end
local ids = take(tonumber(ARGV[6]))
if #ids == 0 then return {} end
for _, id in ipairs(ids) do
  local key = mkey(id)
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'ci', cid, 'ce', until_)
  extend(id, life)
  redis.call('ZADD', CLAIMED, until_, id)
end
redis.call('HSET', ckey(cid), 'c', NOW_S, 'e', until_, 'ids', table.concat(ids, ' '))
redis.call('ZADD', CLAIMS, until_, cid)
local rows = {}
for _, id in ipairs(ids) do rows[#rows + 1] = row(id) end
return rows
