-- The live messages among the ids ARGV[3..].
local rows = {}
for i = 3, #ARGV do
  local r = live_row(ARGV[i])
  if r then rows[#rows + 1] = r end
end
return rows
