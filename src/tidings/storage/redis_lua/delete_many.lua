-- Delete the messages ARGV[4+n..]; with n = ARGV[3] > 0 claim ids ARGV[4..3+n], only those
-- held by one of those live claims.
local n = tonumber(ARGV[3])
local claims = {}
for i = 4, 3 + n do claims[ARGV[i]] = true end
for i = 4 + n, #ARGV do
  local id = ARGV[i]
  if n == 0 then
    drop(id)
  else
    local fields = redis.call('HMGET', mkey(id), 'ci', 'ce')
    if fields[1] and claims[fields[1]] and tonumber(fields[2]) > NOW then drop(id) end
  end
end
return 'OK'
