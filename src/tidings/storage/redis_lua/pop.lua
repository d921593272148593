-- Remove and return up to ARGV[3] claimable messages, oldest first.
local rows = {}
for _, id in ipairs(take(tonumber(ARGV[3]))) do
  rows[#rows + 1] = row(id)
  drop(id)
end
return rows
