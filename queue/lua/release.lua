-- release.lua: hand a leased job back at once (graceful shutdown); the
-- attempt does not count. A job of a cancelled search is cancelled instead.
-- KEYS[1]: <p>:q:job:<id>
-- KEYS[2]: <p>:q:leases
-- ARGV[1]: key prefix <p>
-- ARGV[2]: job id
-- ARGV[3]: fencing token the caller holds
-- Returns: 1 if requeued, 0 if cancelled with its search, -1 if the lease is
--          no longer the caller's.
local prefix, id = ARGV[1], ARGV[2]
local state, token, sid, prio = unpack(redis.call('HMGET', KEYS[1], 'state', 'token', 'sid', 'prio'))
if state ~= 'leased' or token ~= ARGV[3] then return -1 end
redis.call('ZREM', KEYS[2], id)
redis.call('HINCRBY', KEYS[1], 'attempt', -1)
if is_cancelled(prefix, sid) then
  cancel_job(prefix, id, sid, 'leased')
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'token', 0)
move(prefix, sid, 'leased', 'queued')
make_ready(prefix, id, sid, prio)
return 1
