-- Post (or move in) messages, in the given order. ARGV[3]: '1' to create the queue when it is
-- missing (the caller has indexed it first); otherwise a missing queue answers 'NOQUEUE'.
-- Then six strings a message: id, body, created, expires, visible_at, client id. An id that is
-- already in the queue is skipped, so a retried call does not post twice.
if redis.call('EXISTS', Q) == 0 then
  if ARGV[3] ~= '1' then return 'NOQUEUE' end
  redis.call('HSETNX', Q, 'meta', '{}')
end
local count = (#ARGV - 3) / 6
local seq = redis.call('HINCRBY', Q, 'seq', count) - count
for at = 4, #ARGV, 6 do
  local id, body, created, expires, visible, client = unpack(ARGV, at, at + 5)
  if redis.call('EXISTS', mkey(id)) == 0 then
    seq = seq + 1
    redis.call('HSET', mkey(id), 's', seq, 'b', body, 'c', created, 'e', expires,
      'v', visible, 'k', client, 'ci', '', 'ce', '0', 'n', '0')
    index(id, seq, expires, visible)
  end
end
return 'OK'
