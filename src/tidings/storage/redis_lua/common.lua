-- Prepended to every script. KEYS are one queue's keys (all under one hash tag), in this order;
-- ARGV[1] is the queue's key prefix and ARGV[2] the caller's clock. Numbers that go back into
-- Redis are passed as the strings the caller sent: Lua would print them with 14 digits only.
local Q, IDS, EXP, FREE, CLAIMED, DELAYED, CLAIMS, TRASH =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local P, NOW_S = ARGV[1], ARGV[2]
local NOW = tonumber(NOW_S)
local FIELDS = {'s', 'b', 'c', 'e', 'v', 'k', 'ci', 'ce', 'n'}

local function mkey(id) return P .. 'm:' .. id end
local function ckey(cid) return P .. 'c:' .. cid end

-- Whether message id is in the queue (a purged one may wait in the trash for its sweep).
local function present(id)
  return redis.call('ZSCORE', IDS, id) ~= false
end

-- {id, seq, body, created, expires, visible_at, client, claim id, claim expires, claim count}
local function row(id)
  if not present(id) then return nil end
  local r = redis.call('HMGET', mkey(id), unpack(FIELDS))
  if not r[1] then return nil end
  table.insert(r, 1, id)
  return r
end

local function live_row(id)
  local r = row(id)
  if r and tonumber(r[5]) > NOW then return r end
  return nil
end

local function index(id, seq, expires, visible)
  redis.call('ZADD', IDS, seq, id)
  redis.call('ZADD', EXP, expires, id)
  if tonumber(visible) > NOW then
    local due = visible
    if tonumber(expires) < tonumber(visible) then due = expires end
    redis.call('ZADD', DELAYED, due, id)
  else
    redis.call('ZADD', FREE, seq, id)
  end
end

local function drop(id)
  redis.call('DEL', mkey(id))
  for _, key in ipairs({IDS, EXP, FREE, CLAIMED, DELAYED}) do redis.call('ZREM', key, id) end
end

-- Claims and delays that ended by now: their messages are free again, in post order.
local function promote()
  for _, key in ipairs({CLAIMED, DELAYED}) do
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', NOW_S)
    for _, id in ipairs(due) do
      local seq = redis.call('HGET', mkey(id), 's')
      if seq then redis.call('ZADD', FREE, seq, id) end
    end
    if #due > 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', NOW_S) end
  end
end

-- Up to limit claimable message ids, oldest first, taken out of the free index; expired ones
-- met on the way leave the index too (gc deletes them).
local function take(limit)
  promote()
  local got, seen = {}, 0
  while #got < limit do
    local batch = redis.call('ZRANGE', FREE, seen, seen + limit - #got - 1)
    if #batch == 0 then break end
    for _, id in ipairs(batch) do
      local expires = redis.call('HGET', mkey(id), 'e')
      if expires and tonumber(expires) > NOW then got[#got + 1] = id end
    end
    seen = seen + #batch
  end
  if seen > 0 then redis.call('ZREMRANGEBYRANK', FREE, 0, seen - 1) end
  return got
end

-- A message lives at least until life (a string).
local function extend(id, life)
  local key = mkey(id)
  if tonumber(redis.call('HGET', key, 'e')) < tonumber(life) then
    redis.call('HSET', key, 'e', life)
    redis.call('ZADD', EXP, life, id)
  end
end

local function claim_ids(cid)
  local ids = redis.call('HGET', ckey(cid), 'ids')
  local out = {}
  if ids then for id in string.gmatch(ids, '%S+') do out[#out + 1] = id end end
  return out
end

local function claim_live(cid)
  local expires = redis.call('ZSCORE', CLAIMS, cid)
  return expires and tonumber(expires) > NOW
end

-- Whether message id is live and still held by claim cid.
local function holds(cid, id)
  if not present(id) then return false end
  local fields = redis.call('HMGET', mkey(id), 'e', 'ci')
  return fields[1] and tonumber(fields[1]) > NOW and fields[2] == cid
end

-- The live messages a claim still holds.
local function held(cid)
  local rows = {}
  for _, id in ipairs(claim_ids(cid)) do
    if holds(cid, id) then rows[#rows + 1] = row(id) end
  end
  return rows
end

