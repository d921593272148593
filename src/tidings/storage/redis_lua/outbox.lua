-- The outbox index of one outbox queue. ARGV[3] is the step:
-- 'ready': 1 when the outbox holds a message that may be claimable now, else 0.
-- 'mark' (gc): an empty outbox whose mark is '1' gets the fresh token ARGV[4] instead and
--   answers 'MARKED' (the caller then removes it from the outbox set and settles); an empty
--   one already unmarked answers 'IDLE'; one holding messages answers 'BUSY' (the caller adds
--   it to the set, which heals a set member lost to a crash).
-- 'settle' (gc, after the removal): when the mark is still token ARGV[4], replaces it by the
--   fresh token ARGV[5] and answers 1 (done): a writer that saw ARGV[4] and added the outbox
--   to the set maybe before the removal must not match, so it adds it again. Answers 0 when a
--   writer marked the outbox '1' meanwhile (the caller adds it back).
local step = ARGV[3]
local IX = P .. 'ix'
if step == 'ready' then
  if redis.call('ZCARD', FREE) > 0 then return 1 end
  for _, key in ipairs({CLAIMED, DELAYED}) do
    if #redis.call('ZRANGEBYSCORE', key, '-inf', NOW_S, 'LIMIT', 0, 1) > 0 then return 1 end
  end
  return 0
end
local mark = redis.call('GET', IX)
if step == 'settle' then
  if mark ~= ARGV[4] then return 0 end
  redis.call('SET', IX, ARGV[5])
  return 1
end
if redis.call('ZCARD', IDS) > 0 then return 'BUSY' end
if mark ~= '1' then return 'IDLE' end
redis.call('SET', IX, ARGV[4])
return 'MARKED'
