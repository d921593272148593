-- Live messages after seq ARGV[3], in post order, at most ARGV[4], shown to client ARGV[5];
-- ARGV[6..8] are '1' for echo, include claimed, include delayed.
local limit, client = tonumber(ARGV[4]), ARGV[5]
local echo, claimed, delayed = ARGV[6] == '1', ARGV[7] == '1', ARGV[8] == '1'

local function shown(id)
  local f = redis.call('HMGET', mkey(id), 'e', 'v', 'k', 'ci', 'ce')
  if not f[1] or tonumber(f[1]) <= NOW then return false end
  if not echo and f[3] == client then return false end
  if not claimed and f[4] ~= '' and tonumber(f[5]) > NOW then return false end
  return delayed or tonumber(f[2]) <= NOW
end

local rows, after = {}, '(' .. ARGV[3]
while #rows < limit do
  local batch = redis.call('ZRANGEBYSCORE', IDS, after, '+inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    if shown(batch[i]) then
      rows[#rows + 1] = row(batch[i])
      if #rows == limit then break end
    end
    after = '(' .. batch[i + 1]
  end
end
return rows
