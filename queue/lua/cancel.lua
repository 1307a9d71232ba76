-- cancel.lua: cancel a search: its queued jobs are dropped, delayed ones are
-- dropped when due, leased ones may still complete (their results are kept
-- but the search takes no new jobs) and are dropped if their lease lapses
-- or they are handed back (reap.lua, release.lua).
-- KEYS[1]: <p>:cancelled
-- KEYS[2]: <p>:q:ready:<sid>
-- KEYS[3..]: <p>:q:rr and every other pool's round-robin set (<p>:q:rr:<pool>)
-- ARGV[1]: key prefix <p>
-- ARGV[2]: search id
-- Returns: number of queued jobs dropped.
local prefix, sid = ARGV[1], ARGV[2]
redis.call('SADD', KEYS[1], sid)
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, id in ipairs(ids) do
  redis.call('HSET', prefix .. ':q:job:' .. id, 'state', 'cancelled')
  move(prefix, sid, 'queued', 'cancelled')
end
redis.call('DEL', KEYS[2])
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], sid) end
return #ids
