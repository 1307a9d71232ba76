-- renew.lua: extend a lease, if the caller still holds it.
-- KEYS[1]: <p>:q:job:<id>
-- KEYS[2]: <p>:q:leases
-- ARGV[1]: job id
-- ARGV[2]: fencing token the caller holds
-- ARGV[3]: lease length in ms
-- ARGV[4]: key prefix <p>
-- Returns: the new deadline in ms, or -1 if the lease is no longer the caller's.
local now = now_ms()
note_alive(ARGV[4], now)
local state, token = unpack(redis.call('HMGET', KEYS[1], 'state', 'token'))
if state ~= 'leased' or token ~= ARGV[2] then return -1 end
local deadline = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'deadline', deadline)
redis.call('ZADD', KEYS[2], deadline, ARGV[1])
return deadline
