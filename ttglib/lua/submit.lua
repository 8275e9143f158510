-- Submit a run once: its meta, its tasks and a "submitted" event, atomically.
--
-- KEYS: 1 meta hash, 2 tasks stream, 3 events stream
-- ARGV: 1 group, 2 mode ('queue' or 'static'), 3 chunk id digits,
--       4 total params, 5 number of meta arguments M, 6 .. 5+M meta
--       field/value pairs, 6+M chunk bounds as "start end start end ...".
-- Returns 1 if submitted, 0 if the run existed already (nothing is written),
-- -1 if tasks exist without meta (a half-removed run).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end

local group, mode, total = ARGV[1], ARGV[2], ARGV[4]
local meta_args = tonumber(ARGV[5])
local id_format = '%0' .. ARGV[3] .. 'd'

if mode == 'queue' then
  redis.call('XGROUP', 'CREATE', KEYS[2], group, '0', 'MKSTREAM')
  local index = 0
  for first, last in string.gmatch(ARGV[6 + meta_args], '(%d+) (%d+)') do
    redis.call('XADD', KEYS[2], '*',
      'chunk_id', string.format(id_format, index),
      'start_param', first, 'end_param', last,
      'total_params', total, 'attempt', '1')
    index = index + 1
  end
end

redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + meta_args))
redis.call('XADD', KEYS[3], '*', 'event', 'submitted')
return 1
