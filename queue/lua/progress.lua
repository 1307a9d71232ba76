-- progress.lua: record how far a leased job has got, if the caller still
-- holds the lease (a worker that lost it writes nothing).
-- KEYS[1]: <p>:q:job:<id>
-- ARGV[1]: fencing token the caller holds
-- ARGV[2]: the note (JSON text)
-- Returns: 1, or -1 if the lease is no longer the caller's.
local state, token = unpack(redis.call('HMGET', KEYS[1], 'state', 'token'))
if state ~= 'leased' or token ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'progress', ARGV[2])
return 1
