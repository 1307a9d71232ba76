-- claim.lua: lease up to N jobs to a worker, round robin across searches and
-- best priority first within a search; promotes due delayed jobs first.
-- The worker names the pools it serves as their round-robin sets, in the
-- order it prefers them: it empties the first before it takes from the next.
-- KEYS[1]: <p>:q:rrseq    round-robin counter
-- KEYS[2]: <p>:q:leases   zset job id -> deadline
-- KEYS[3]: <p>:q:token    the last fencing token handed out
-- KEYS[4..]: <p>:q:rr, <p>:q:rr:<pool>: the pools' round-robin sets
--            (search -> round-robin position)
-- ARGV[1]: key prefix <p>
-- ARGV[2]: worker id
-- ARGV[3]: lease length in ms
-- ARGV[4]: most jobs to claim
-- Returns: list of {job id, token, deadline ms, attempt, envelope JSON,
--          search id the job is stored under}
--
-- A token is the larger of the last one plus one and the server's clock in
-- microseconds, so tokens never go backwards even when Redis, killed under
-- `appendfsync everysec`, comes back without its last second of writes
-- (the counter then restarts below tokens already handed out, the clock
-- does not). Tokens are written as integer strings: a Lua number that large
-- would otherwise be written as 1.7e+15.
local prefix, worker = ARGV[1], ARGV[2]
local lease, max = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
note_alive(prefix, now)
promote_delayed(prefix, now)
local clock = redis.call('TIME')
local stored = tonumber(redis.call('GET', KEYS[3]) or '0')
local last = math.max(stored, tonumber(clock[1]) * 1000000 + tonumber(clock[2]) - 1)
local out = {}
local guard = 0
local pool = 4
while #out < max and guard < 10000 and KEYS[pool] do
  guard = guard + 1
  local rr = KEYS[pool]
  local first = redis.call('ZRANGE', rr, 0, 0)
  if #first == 0 then
    pool = pool + 1
  else
    local sid = first[1]
    local rk = prefix .. ':q:ready:' .. sid
    local popped = redis.call('ZPOPMIN', rk)
    if #popped == 0 then
      redis.call('ZREM', rr, sid)
    else
      local id = popped[1]
      local jk = prefix .. ':q:job:' .. id
      -- A ready entry whose job is gone (its search retired under it) is
      -- dropped: leasing it would make a hash with no envelope and no search.
      if redis.call('EXISTS', jk) == 1 then
        last = last + 1
        local token = string.format('%.0f', last)
        local deadline = now + lease
        local attempt = redis.call('HINCRBY', jk, 'attempt', 1)
        redis.call('HSET', jk, 'state', 'leased', 'token', token, 'worker', worker, 'deadline', deadline)
        redis.call('ZADD', KEYS[2], deadline, id)
        move(prefix, sid, 'queued', 'leased')
        table.insert(out, { id, token, deadline, attempt, redis.call('HGET', jk, 'env'), sid })
      end
      if redis.call('ZCARD', rk) == 0 then
        redis.call('ZREM', rr, sid)
      else
        redis.call('ZADD', rr, redis.call('INCR', KEYS[1]), sid)
      end
    end
  end
end
-- INCRBY rather than SET: a trainer may count, not set keys.
if #out > 0 then redis.call('INCRBY', KEYS[3], string.format('%.0f', last - stored)) end
return out
