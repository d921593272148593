-- Post (or move in) messages into one or more queues of one slot, all or nothing. KEYS: the
-- keys of each queue in common.lua's order, queue after queue. ARGV[3]: '1' to create missing
-- queues (the caller has indexed them first); otherwise a missing queue answers 'NOQUEUE' and
-- nothing is written. ARGV[4]: '' or '=' and the version of the first queue's context the
-- post was prepared with (context.lua); once that version has moved, the answer is 'STALE'
-- and nothing is written. Then, per queue: its key prefix, its outbox guard, its message
-- count and six strings a message: id, body, created, expires, visible_at, client id.
-- The guard is '' for a queue that is no outbox. For an outbox it is '=' and the value of the
-- outbox's index mark (key P..'ix') the caller expects: '=1' (the outbox is in the global
-- outbox set), or the value an earlier 'NOINDEX' answer reported, after the caller added the
-- outbox to that set. A mismatch answers {'NOINDEX', queue number, actual mark} and writes
-- nothing. gc replaces the '1' of an empty outbox by a fresh token before it removes the
-- outbox from the set, and by another fresh token after, so a writer whose set addition gc
-- may have undone never matches (it adds the outbox again and retries).
-- An id already in its queue is skipped, so a retried call does not post twice.
local queues = {}
local at = 5
while at <= #ARGV do
  local count = tonumber(ARGV[at + 2])
  queues[#queues + 1] = {prefix = ARGV[at], guard = ARGV[at + 1], first = at + 3, count = count}
  at = at + 3 + 6 * count
end

local function bind(n)
  local k = (n - 1) * 8
  Q, IDS, EXP, FREE, CLAIMED, DELAYED, CLAIMS, TRASH = unpack(KEYS, k + 1, k + 8)
  P = queues[n].prefix
end

if ARGV[4] ~= '' and '=' .. context_version(queues[1].prefix) ~= ARGV[4] then
  return 'STALE'
end

for n, queue in ipairs(queues) do
  bind(n)
  if ARGV[3] ~= '1' and redis.call('EXISTS', Q) == 0 then return 'NOQUEUE' end
  if queue.guard ~= '' then
    local mark = redis.call('GET', P .. 'ix') or ''
    if '=' .. mark ~= queue.guard then return {'NOINDEX', n, mark} end
  end
end

for n, queue in ipairs(queues) do
  bind(n)
  if redis.call('HSETNX', Q, 'meta', '{}') == 1 then context_changed(P) end
  if queue.guard ~= '' then redis.call('SET', P .. 'ix', '1') end
  local seq = redis.call('HINCRBY', Q, 'seq', queue.count) - queue.count
  for at = queue.first, queue.first + 6 * queue.count - 1, 6 do
    local id, body, created, expires, visible, client = unpack(ARGV, at, at + 5)
    if redis.call('EXISTS', mkey(id)) == 0 then
      seq = seq + 1
      redis.call('HSET', mkey(id), 's', seq, 'b', body, 'c', created, 'e', expires,
        'v', visible, 'k', client, 'ci', '', 'ce', '0', 'n', '0')
      index(id, seq, expires, visible)
    end
  end
  redis.call('PUBLISH', P .. 'posted', '')  -- wakes the queue's watchers (Storage.watch)
end
return 'OK'
