-- Replace the metadata of an existing queue with ARGV[3]: 1, or 0 when there is no queue.
if redis.call('EXISTS', Q) == 0 then return 0 end
redis.call('HSET', Q, 'meta', ARGV[3])
context_changed(P)
return 1
