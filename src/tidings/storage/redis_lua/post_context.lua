-- What a post reads first: KEYS[4] is the queue's hash. Returns {metadata (JSON) or nil,
-- every live subscription sorted by id (as sub_read's 'list'), their version (context.lua)}.
local out = {}
for _, id in ipairs(redis.call('ZRANGE', SUBS, 0, -1)) do
  local r = live(id)
  if r then out[#out + 1] = r end
end
return {redis.call('HGET', KEYS[4], 'meta'), out, context_version(P)}
