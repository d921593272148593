-- {total, claimed, delayed, oldest row, newest row} of the live messages.
local above = '(' .. NOW_S
local total = redis.call('ZCOUNT', EXP, above, '+inf')
if total == 0 then return {0, 0, 0} end
local claimed = redis.call('ZCOUNT', CLAIMED, above, '+inf')
local delayed = redis.call('ZCOUNT', DELAYED, above, '+inf')

local function first_live(command)
  local start = 0
  while true do
    local batch = redis.call(command, IDS, start, start + 99)
    if #batch == 0 then return false end
    for _, id in ipairs(batch) do
      local r = live_row(id)
      if r then return r end
    end
    start = start + #batch
  end
end

return {total, claimed, delayed, first_live('ZRANGE'), first_live('ZREVRANGE')}
