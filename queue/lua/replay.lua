-- replay.lua: take a job off the dead-letter list and queue it again with
-- fresh attempts.
-- KEYS[1]: <p>:q:job:<id>
-- KEYS[2]: <p>:q:dlq
-- KEYS[3]: <p>:cancelled
-- ARGV[1]: key prefix <p>
-- ARGV[2]: job id
-- Returns: 1 if requeued, 0 if the job is not dead, -1 if its search is cancelled.
local prefix, id = ARGV[1], ARGV[2]
local state, sid, prio = unpack(redis.call('HMGET', KEYS[1], 'state', 'sid', 'prio'))
if state ~= 'dead' then return 0 end
if redis.call('SISMEMBER', KEYS[3], sid) == 1 then return -1 end
redis.call('LREM', KEYS[2], 0, id)
redis.call('HSET', KEYS[1], 'state', 'queued', 'attempt', 0, 'token', 0)
redis.call('HDEL', KEYS[1], 'reason')
move(prefix, sid, 'dead', 'queued')
make_ready(prefix, id, sid, prio)
return 1
