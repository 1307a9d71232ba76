-- prelude.lua: helpers shared by every transition of the queue: the head of
-- the nasq functions library, before each lua/<name>.lua wrapped as a
-- function (queue/src/functions.rs). Not a script on its own.
--
-- Key layout (see queue/src/keys.rs, the one place that names keys). What
-- claiming, renewing, completing, failing and reaping a job write lives
-- under <p>:q:, the only keys a trainer may write (its ACL user); scripts
-- get <p> as ARGV[1] and build <p>:q:... names from it. Everything else
-- under <p> is the scheduler's, which trainers may at most read.
--   <p>:q:job:<id>      hash   env, sid, state, attempt, token, worker, deadline, prio, reason, dkey, result,
--                              pool (absent: builtin), progress, outages
--   <p>:q:ready:<sid>   zset   job id -> -priority (ZPOPMIN takes the best; ties by id = FIFO)
--   <p>:q:rr            zset   search id -> round-robin position (claim serves the lowest),
--                              for the searches of the builtin pool (Rust and Python trainers)
--   <p>:q:rr:<pool>     zset   the same for the searches of another pool (python: only the
--                              trainers that run the user's own code claim them)
--   <p>:q:rrseq         string round-robin counter
--   <p>:q:leases        zset   job id -> lease deadline (ms, Redis server time)
--   <p>:q:delayed       zset   job id -> time it becomes ready again (ms)
--   <p>:q:count:<sid>   hash   state -> number of the search's jobs in it
--   <p>:cancelled       set    cancelled search ids (the scheduler's; read here)

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Silences: a gap of more than SILENCE_MS between two calls of claim, renew
-- or reap (a busy trainer renews every third of its lease, an idle one
-- polls every 200 ms, the scheduler reaps every second) means nobody could
-- reach Redis: it was down or cut off. The last silence is kept in
-- <p>:q:stats (silence_from, silence_to); reap hands back a lease that
-- expired inside it, or within SILENCE_GRACE_MS after it (trainers
-- reconnect with a backoff), without counting the attempt.
local SILENCE_MS = 2500
local SILENCE_GRACE_MS = 5000
-- Most leases one job may lose to silences before they count as attempts
-- (a poison job that takes its trainer down with it still ends).
local MAX_OUTAGES = 10

local function fmt(n)
  return string.format('%.0f', n)
end

-- Note that Redis is reachable now; record a silence if there was one.
local function note_alive(prefix, now)
  local sk = prefix .. ':q:stats'
  local seen = tonumber(redis.call('HGET', sk, 'seen') or '0')
  if seen > 0 and now - seen > SILENCE_MS then
    redis.call('HSET', sk, 'silence_from', fmt(seen), 'silence_to', fmt(now))
    redis.call('HINCRBY', sk, 'silences', 1)
  end
  -- At most a write every half second, however many trainers poll.
  if now - seen >= 500 then redis.call('HSET', sk, 'seen', fmt(now)) end
end

-- True if a lease that ended at `deadline` ended inside the last silence.
local function lost_to_silence(prefix, deadline)
  local from, to = unpack(redis.call('HMGET', prefix .. ':q:stats', 'silence_from', 'silence_to'))
  if not from then return false end
  return deadline > tonumber(from) and deadline <= tonumber(to) + SILENCE_GRACE_MS
end

local function move(prefix, sid, from, to)
  local ck = prefix .. ':q:count:' .. sid
  if from then redis.call('HINCRBY', ck, from, -1) end
  if to then redis.call('HINCRBY', ck, to, 1) end
end

-- The round-robin set of the searches of `pool` (false or '': builtin).
local function rr_key(prefix, pool)
  if not pool or pool == '' then return prefix .. ':q:rr' end
  return prefix .. ':q:rr:' .. pool
end

-- Put job `id` of search `sid` on its search's ready set and make sure the
-- search takes part in the round robin of the job's pool.
local function make_ready(prefix, id, sid, prio)
  redis.call('ZADD', prefix .. ':q:ready:' .. sid, prio, id)
  local seq = tonumber(redis.call('GET', prefix .. ':q:rrseq') or '0')
  local pool = redis.call('HGET', prefix .. ':q:job:' .. id, 'pool')
  redis.call('ZADD', rr_key(prefix, pool), 'NX', seq, sid)
end

-- Whether search `sid` was cancelled: none of its jobs may become ready
-- again, whichever way they come back (backoff over, lease reaped, handed
-- back).
local function is_cancelled(prefix, sid)
  return redis.call('SISMEMBER', prefix .. ':cancelled', sid) == 1
end

-- Job `id` of search `sid`, in state `from`, ends with its cancelled search.
local function cancel_job(prefix, id, sid, from)
  redis.call('HSET', prefix .. ':q:job:' .. id, 'state', 'cancelled', 'token', 0)
  move(prefix, sid, from, 'cancelled')
end

-- Move delayed jobs whose backoff has passed back to their ready sets.
local function promote_delayed(prefix, now)
  local due = redis.call('ZRANGEBYSCORE', prefix .. ':q:delayed', '-inf', now, 'LIMIT', 0, 100)
  for _, id in ipairs(due) do
    local jk = prefix .. ':q:job:' .. id
    redis.call('ZREM', prefix .. ':q:delayed', id)
    local sid = redis.call('HGET', jk, 'sid')
    if sid then
      if is_cancelled(prefix, sid) then
        cancel_job(prefix, id, sid, 'delayed')
      else
        redis.call('HSET', jk, 'state', 'queued')
        move(prefix, sid, 'delayed', 'queued')
        make_ready(prefix, id, sid, redis.call('HGET', jk, 'prio'))
      end
    end
  end
end

-- The result-log entry of a job that ended in the dead-letter list; the same
-- shape as queue::wire::JobResult with outcome Dead.
local function dead_event(id, sid, attempt, worker, now, reason)
  return cjson.encode({
    v = 1, job_id = id, search_id = sid, attempt = tonumber(attempt),
    worker = worker or '', finished_ms = now, outcome = { dead = { reason = reason } },
  })
end
