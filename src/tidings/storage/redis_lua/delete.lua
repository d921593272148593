-- Delete message ARGV[3] checking claim ARGV[4] ('' for none): 'OK' or why not.
local id, cid = ARGV[3], ARGV[4]
if not present(id) then return 'OK' end
local fields = redis.call('HMGET', mkey(id), 'e', 'ci', 'ce')
local expires, holder, until_ = fields[1], fields[2], fields[3]
if not expires or tonumber(expires) <= NOW then return 'OK' end
local claimed = holder ~= '' and tonumber(until_) > NOW
if cid == '' then
  if claimed then return 'IS_CLAIMED' end
else
  if not claim_live(cid) then return 'CLAIM_EXPIRED' end
  if not claimed then return 'NOT_CLAIMED' end
  if holder ~= cid then return 'IS_CLAIMED' end
end
drop(id)
return 'OK'
