-- Store one chunk's result, first writer wins, and acknowledge its task.
--
-- KEYS: 1 done hash, 2 results stream, 3 tasks stream, 4 dead stream,
--       5 counters hash
-- ARGV: 1 group, 2 task message id ('' when there is no task: static mode),
--       3 chunk id, 4 parameters counted, 5 dead letters,
--       6 number of result arguments N, 7 .. 6+N result field/value pairs,
--       then 18 arguments (9 field/value pairs) per dead letter.
-- Returns 1 if the result was stored, 0 if the chunk already had one.
local group, message_id, chunk_id = ARGV[1], ARGV[2], ARGV[3]

if redis.call('HEXISTS', KEYS[1], chunk_id) == 1 then
  if message_id ~= '' then
    redis.call('XACK', KEYS[3], group, message_id)
  end
  redis.call('HINCRBY', KEYS[5], 'duplicates', 1)
  return 0
end

local result_args = tonumber(ARGV[6])
local reference = 'dead'
if result_args > 0 then
  reference = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 7, 6 + result_args))
end

local position = 7 + result_args
for _ = 1, tonumber(ARGV[5]) do
  redis.call('XADD', KEYS[4], '*', unpack(ARGV, position, position + 17))
  position = position + 18
end

redis.call('HSET', KEYS[1], chunk_id, reference)
redis.call('HINCRBY', KEYS[5], 'params', tonumber(ARGV[4]))
if tonumber(ARGV[5]) > 0 then
  redis.call('HINCRBY', KEYS[5], 'dead_params', tonumber(ARGV[5]))
end
if message_id ~= '' then
  redis.call('XACK', KEYS[3], group, message_id)
end
return 1
