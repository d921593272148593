-- Create the queue with metadata ARGV[3]: 1, or 0 when it exists already.
if redis.call('HSETNX', Q, 'meta', ARGV[3]) == 0 then return 0 end
context_changed(P)
return 1
