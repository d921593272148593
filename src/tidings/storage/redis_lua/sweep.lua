-- Delete up to ARGV[3] keys of trashed messages and claims: how many were deleted (0: done).
local budget = tonumber(ARGV[3])
local done = 0
for _, generation in ipairs(redis.call('SMEMBERS', TRASH)) do
  local trash = P .. 'trash:' .. generation .. ':'
  for _, kind in ipairs({'ids', 'claims'}) do
    local key = trash .. kind
    local names = redis.call('ZRANGE', key, 0, budget - done - 1)
    for _, name in ipairs(names) do
      if kind == 'ids' then redis.call('UNLINK', mkey(name)) else redis.call('UNLINK', ckey(name)) end
    end
    if #names > 0 then redis.call('ZREMRANGEBYRANK', key, 0, #names - 1) end
    done = done + #names
    if done >= budget then return done end
  end
  redis.call('SREM', TRASH, generation)
end
return done
