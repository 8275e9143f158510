-- Re-queue a failed task with its attempt raised, if the caller still owns it.
--
-- KEYS: 1 done hash, 2 tasks stream, 3 counters hash
-- ARGV: 1 group, 2 consumer, 3 message id, 4 chunk id, 5.. new task fields
-- Returns 1 if re-queued, 0 if the chunk has a result already (the task is
-- acknowledged), -1 if another consumer owns the task now (nothing is done).
local group, consumer, message_id = ARGV[1], ARGV[2], ARGV[3]

local pending = redis.call('XPENDING', KEYS[2], group, message_id, message_id, 1)
if pending[1] == nil or pending[1][2] ~= consumer then
  return -1
end

if redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 then
  redis.call('XACK', KEYS[2], group, message_id)
  return 0
end

redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
redis.call('XACK', KEYS[2], group, message_id)
redis.call('HINCRBY', KEYS[3], 'retries', 1)
return 1
