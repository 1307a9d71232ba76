-- complete.lua: acknowledge a job and record its result, exactly once.
-- KEYS[1]: <p>:q:job:<id>
-- KEYS[2]: <p>:q:leases
-- KEYS[3]: <p>:q:log:<sid>   list of result JSON, the scheduler's feed
-- ARGV[1]: key prefix <p>
-- ARGV[2]: job id
-- ARGV[3]: fencing token the caller holds
-- ARGV[4]: result JSON
-- Returns: 1 if recorded, -1 if the lease is no longer the caller's.
local state, token, sid = unpack(redis.call('HMGET', KEYS[1], 'state', 'token', 'sid'))
if state ~= 'leased' or token ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[1], 'state', 'done', 'result', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[4])
move(ARGV[1], sid, 'leased', 'done')
return 1
