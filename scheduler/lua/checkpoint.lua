-- checkpoint.lua: persist a search's state and its new evaluations in one
-- step, if the caller still leads; a finished search leaves the active set
-- for the retiring set (the scheduler archives it, then lets it expire).
-- KEYS[1]: <p>:search:<id>   hash (state)
-- KEYS[2]: <p>:evals:<id>    list of evaluation JSON
-- KEYS[3]: <p>:active        set of searches the scheduler drives
-- KEYS[4]: <p>:scheduler     leader lock (holds the leader's instance id)
-- KEYS[5]: <p>:retiring      set of finished searches to archive and retire
-- ARGV[1]: search id
-- ARGV[2]: state JSON
-- ARGV[3]: 1 if the search reached a terminal status, else 0
-- ARGV[4]: the caller's instance id
-- ARGV[5..]: evaluation JSON lines to append
-- Returns: 1, or -1 if the caller does not hold the leader lock.
if redis.call('GET', KEYS[4]) ~= ARGV[4] then return -1 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
for i = 5, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
if ARGV[3] == '1' then
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('SADD', KEYS[5], ARGV[1])
end
return 1
