-- ARGV[3] 'get': the live subscription ARGV[4] or nil. 'list': up to ARGV[5] live
-- subscriptions with ids after ARGV[4] ('' from the start), sorted by id.
if ARGV[3] == 'get' then return live(ARGV[4]) end
local out, limit = {}, tonumber(ARGV[5])
local start = '-'
if ARGV[4] ~= '' then start = '(' .. ARGV[4] end
while #out < limit do
  local ids = redis.call('ZRANGEBYLEX', SUBS, start, '+', 'LIMIT', 0, limit - #out)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local r = live(id)
    if r then out[#out + 1] = r end
  end
  start = '(' .. ids[#ids]
end
return out
