-- fail.lua: a job failed; retry it after a backoff or move it to the
-- dead-letter list.
-- KEYS[1]: <p>:q:job:<id>
-- KEYS[2]: <p>:q:leases
-- KEYS[3]: <p>:q:delayed
-- KEYS[4]: <p>:q:dlq         list of dead job ids
-- KEYS[5]: <p>:q:log:<sid>
-- ARGV[1]: key prefix <p>
-- ARGV[2]: job id
-- ARGV[3]: fencing token the caller holds
-- ARGV[4]: reason
-- ARGV[5]: 1 if a retry may succeed, 0 if it never can (malformed payload)
-- ARGV[6]: most attempts
-- ARGV[7]: backoff before the retry, ms
-- Returns: {-1} if the lease is no longer the caller's, {0} if dead-lettered,
--          {1, ready-at ms} if it will be retried.
local prefix, id = ARGV[1], ARGV[2]
-- Redis keeps a script's writes up to an error: the lists this script
-- appends to are checked before anything is written, so that a damaged one
-- leaves the job leased (its lease lapses, the reaper takes it back) rather
-- than dead and in no dead-letter list, with its search waiting for it.
for _, k in ipairs({ KEYS[4], KEYS[5] }) do
  local t = redis.call('TYPE', k).ok
  if t ~= 'list' and t ~= 'none' then
    return redis.error_reply(k .. ' holds a ' .. t .. ', not a list: nothing recorded')
  end
end
local state, token, sid, attempt, worker =
  unpack(redis.call('HMGET', KEYS[1], 'state', 'token', 'sid', 'attempt', 'worker'))
if state ~= 'leased' or token ~= ARGV[3] then return { -1 } end
redis.call('ZREM', KEYS[2], id)
redis.call('HSET', KEYS[1], 'reason', ARGV[4])
local now = now_ms()
if ARGV[5] == '0' or tonumber(attempt) >= tonumber(ARGV[6]) then
  redis.call('HSET', KEYS[1], 'state', 'dead')
  redis.call('RPUSH', KEYS[4], id)
  redis.call('RPUSH', KEYS[5], dead_event(id, sid, attempt, worker, now, ARGV[4]))
  move(prefix, sid, 'leased', 'dead')
  return { 0 }
end
local at = now + tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'state', 'delayed')
redis.call('ZADD', KEYS[3], at, id)
move(prefix, sid, 'leased', 'delayed')
return { 1, at }
