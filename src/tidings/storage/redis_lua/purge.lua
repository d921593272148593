-- Empty the queue in one step, whatever its size: its indexes of messages and claims move to
-- trash generation ARGV[4] (swept later in batches by sweep.lua); with ARGV[3] = '1' the queue
-- itself goes too. Trashed messages are invisible at once: every lookup checks IDS.
local trash = P .. 'trash:' .. ARGV[4] .. ':'
if redis.call('EXISTS', IDS) == 1 then redis.call('RENAME', IDS, trash .. 'ids') end
if redis.call('EXISTS', CLAIMS) == 1 then redis.call('RENAME', CLAIMS, trash .. 'claims') end
redis.call('SADD', TRASH, ARGV[4])
redis.call('UNLINK', EXP, FREE, CLAIMED, DELAYED)
if ARGV[3] == '1' then
  redis.call('UNLINK', Q)
  context_changed(P)
end
return 'OK'
