-- enqueue.lua: add jobs to one search, idempotently per deduplication key.
-- KEYS[1]: <p>:dedupe:<sid>   hash dedupe key -> job id
-- KEYS[2]: <p>:jobseq:<sid>   per-search job counter (job ids sort FIFO)
-- KEYS[3]: <p>:cancelled      set of cancelled searches
-- ARGV[1]: key prefix <p>
-- ARGV[2]: search id
-- ARGV[3]: the pool of the search's jobs ('' for builtin, or python: see
--          rr_key in the prelude); every job of a search is in one pool
-- ARGV[4..]: groups of 3: dedupe key, priority score (-priority), envelope JSON
--            whose job_id is the placeholder "@@ID@@"
-- Returns: for each job {job id, 1 if created else 0}, or an error if the
--          search is cancelled.
local prefix, sid, pool = ARGV[1], ARGV[2], ARGV[3]
if redis.call('SISMEMBER', KEYS[3], sid) == 1 then
  return redis.error_reply('search ' .. sid .. ' is cancelled')
end
local out = {}
for i = 4, #ARGV, 3 do
  local dkey, prio, env = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local existing = redis.call('HGET', KEYS[1], dkey)
  if existing then
    table.insert(out, { existing, 0 })
  else
    local n = redis.call('INCR', KEYS[2])
    local id = sid .. '.' .. string.format('%010d', n)
    local body = string.gsub(env, '@@ID@@', id, 1)
    redis.call('HSET', KEYS[1], dkey, id)
    redis.call('HSET', prefix .. ':q:job:' .. id, 'env', body, 'sid', sid, 'state', 'queued',
      'attempt', 0, 'token', 0, 'prio', prio, 'dkey', dkey)
    if pool ~= '' then redis.call('HSET', prefix .. ':q:job:' .. id, 'pool', pool) end
    move(prefix, sid, nil, 'queued')
    make_ready(prefix, id, sid, prio)
    table.insert(out, { id, 1 })
  end
end
return out
