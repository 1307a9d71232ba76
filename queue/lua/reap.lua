-- reap.lua: requeue jobs whose lease expired (their worker died or stalled),
-- or dead-letter them once they have used all attempts, or cancel them when
-- their search was cancelled meanwhile; also promotes due delayed jobs.
-- KEYS[1]: <p>:q:leases
-- KEYS[2]: <p>:q:dlq
-- KEYS[3]: <p>:q:stats     hash of counters (redeliveries)
-- ARGV[1]: key prefix <p>
-- ARGV[2]: most attempts
-- ARGV[3]: most jobs to reap in one call
-- Returns: {requeued, dead-lettered} (cancelled jobs count as neither)
--
-- A lease that expired while nobody could reach Redis (inside the last
-- silence, see prelude.lua) is handed back without counting its attempt:
-- an outage is not the job's fault. At most MAX_OUTAGES times per job.
local prefix, max = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
note_alive(prefix, now)
promote_delayed(prefix, now)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local requeued, dead = 0, 0
for i = 1, #expired, 2 do
  local id, deadline = expired[i], tonumber(expired[i + 1])
  local jk = prefix .. ':q:job:' .. id
  redis.call('ZREM', KEYS[1], id)
  local state, sid, attempt, prio, worker, outages =
    unpack(redis.call('HMGET', jk, 'state', 'sid', 'attempt', 'prio', 'worker', 'outages'))
  if state == 'leased' and is_cancelled(prefix, sid) then
    cancel_job(prefix, id, sid, 'leased')
  elseif state == 'leased' and lost_to_silence(prefix, deadline)
      and tonumber(outages or '0') < MAX_OUTAGES then
    redis.call('HINCRBY', jk, 'outages', 1)
    redis.call('HINCRBY', jk, 'attempt', -1)
    redis.call('HSET', jk, 'state', 'queued', 'token', 0)
    move(prefix, sid, 'leased', 'queued')
    make_ready(prefix, id, sid, prio)
    redis.call('HINCRBY', KEYS[3], 'outage_requeues', 1)
    requeued = requeued + 1
  elseif state == 'leased' then
    if tonumber(attempt) >= max then
      local reason = 'lease expired on attempt ' .. attempt .. ' of ' .. max .. ' (worker ' .. (worker or '?') .. ')'
      redis.call('HSET', jk, 'state', 'dead', 'reason', reason)
      redis.call('RPUSH', KEYS[2], id)
      redis.call('RPUSH', prefix .. ':q:log:' .. sid, dead_event(id, sid, attempt, worker, now, reason))
      move(prefix, sid, 'leased', 'dead')
      dead = dead + 1
    else
      redis.call('HSET', jk, 'state', 'queued', 'token', 0)
      move(prefix, sid, 'leased', 'queued')
      make_ready(prefix, id, sid, prio)
      redis.call('HINCRBY', KEYS[3], 'redeliveries', 1)
      requeued = requeued + 1
    end
  end
end
return { requeued, dead }
