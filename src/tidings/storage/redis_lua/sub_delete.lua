-- Delete subscription ARGV[3], or with ARGV[3] = '' every subscription of the source.
if ARGV[3] ~= '' then
  if redis.call('ZSCORE', SUBS, ARGV[3]) then drop(ARGV[3]) end
  return 'OK'
end
for _, id in ipairs(redis.call('ZRANGE', SUBS, 0, -1)) do drop(id) end
return 'OK'
