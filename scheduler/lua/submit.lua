-- submit.lua: record a new search and hand it to the scheduler.
-- KEYS[1]: <p>:search:<id>   hash (state)
-- KEYS[2]: <p>:searches      zset id -> submission ms
-- KEYS[3]: <p>:active        set of searches the scheduler drives
-- KEYS[4]: <p>:retired       zset of retired searches not yet swept
-- ARGV[1]: search id
-- ARGV[2]: initial state JSON
-- ARGV[3]: submission time, ms
-- Returns: 1, or 0 if a search with this id exists (or was retired and
-- is not yet swept: its id stays taken until nothing of it is left).
if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 0 end
if redis.call('HSETNX', KEYS[1], 'state', ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
