-- lead.lua: take or keep the scheduler leader lock.
-- KEYS[1]: <p>:scheduler   leader lock
-- ARGV[1]: the caller's instance id
-- ARGV[2]: lock lifetime, ms (the leader renews well before it ends)
-- Returns: 1 if the caller leads now, 0 if another scheduler does.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
