-- Hand back tasks the caller owns without answering them: their idle time is
-- set past the lease, so the next XAUTOCLAIM by any worker takes them.
--
-- KEYS: 1 tasks stream
-- ARGV: 1 group, 2 consumer, 3 idle milliseconds, 4.. message ids
-- Returns how many were released.
local group, consumer, idle = ARGV[1], ARGV[2], ARGV[3]
local released = 0
for index = 4, #ARGV do
  local id = ARGV[index]
  local pending = redis.call('XPENDING', KEYS[1], group, id, id, 1)
  if pending[1] ~= nil and pending[1][2] == consumer then
    redis.call('XCLAIM', KEYS[1], group, consumer, 0, id, 'IDLE', idle, 'JUSTID')
    released = released + 1
  end
end
return released
