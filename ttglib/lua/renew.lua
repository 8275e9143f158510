-- Renew the caller's lease on each task it still owns (XCLAIM JUSTID resets
-- the idle time without counting a delivery).
--
-- KEYS: 1 tasks stream
-- ARGV: 1 group, 2 consumer, 3.. message ids
-- Returns two lists: the ids renewed, and the ids another consumer owns now.
-- An id in neither was acknowledged meanwhile.
local group, consumer = ARGV[1], ARGV[2]
local renewed, taken = {}, {}
for index = 3, #ARGV do
  local id = ARGV[index]
  local pending = redis.call('XPENDING', KEYS[1], group, id, id, 1)
  if pending[1] ~= nil then
    if pending[1][2] == consumer then
      redis.call('XCLAIM', KEYS[1], group, consumer, 0, id, 'JUSTID')
      renewed[#renewed + 1] = id
    else
      taken[#taken + 1] = id
    end
  end
end
return {renewed, taken}
