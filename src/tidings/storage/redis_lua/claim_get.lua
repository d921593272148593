-- {created, expires, rows} of live claim ARGV[3], or nil.
local cid = ARGV[3]
if not claim_live(cid) then return false end
local fields = redis.call('HMGET', ckey(cid), 'c', 'e')
return {fields[1], fields[2], held(cid)}
