-- Prepended to every script, before common.lua or sub_common.lua. What a post reads of its
-- queue first (the metadata and the live subscriptions: post_context.lua) has a version, the
-- hash p..'v': a token drawn from the server's clock when the queue or its first subscription
-- appears, and a count of the changes since. There is no version (and none is kept) while
-- there is neither queue nor subscription. A process keeps the context it read with its
-- version; its next post names that version, and insert.lua refuses it once it has moved.
local function context_changed(p)
  local v = p .. 'v'
  if redis.call('EXISTS', p .. 'q', p .. 'subs') == 0 then
    redis.call('DEL', v)
  elseif redis.call('EXISTS', v) == 0 then
    local now = redis.call('TIME')
    redis.call('HSET', v, 'b', now[1] .. '.' .. now[2], 'n', 0)
  else
    redis.call('HINCRBY', v, 'n', 1)
  end
end

local function context_version(p)
  local version = redis.call('HMGET', p .. 'v', 'b', 'n')
  if not version[1] then return '' end
  return version[1] .. ':' .. version[2]
end
