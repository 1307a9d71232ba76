-- sweep.lua: clear what the shared indexes hold of retired searches whose
-- records are gone (their place in the round robin and the cancelled set,
-- their dead letters, leases and delayed jobs), and drop the heartbeats of
-- workers silent since a cutoff.
-- KEYS[1]: <p>:retired    zset search id -> when its records are gone (ms)
-- KEYS[2]: <p>:q:rr         KEYS[3]: <p>:cancelled   KEYS[4]: <p>:q:dlq
-- KEYS[5]: <p>:q:leases     KEYS[6]: <p>:q:delayed     KEYS[7]: <p>:q:workers
-- KEYS[8..]: the other pools' round-robin sets (<p>:q:rr:<pool>)
-- ARGV[1]: heartbeat cutoff (ms; workers last seen before it are dropped)
-- ARGV[2]: most searches to clear in one call
-- Returns: {searches cleared, dead letters dropped, index entries dropped,
--           workers dropped}
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, sid in ipairs(due) do
  gone[sid] = true
  redis.call('ZREM', KEYS[1], sid)
  redis.call('ZREM', KEYS[2], sid)
  for i = 8, #KEYS do redis.call('ZREM', KEYS[i], sid) end
  redis.call('SREM', KEYS[3], sid)
end
local function of_gone(id)
  local sid = string.match(id, '^(.*)%.%d+$')
  return sid ~= nil and gone[sid] == true
end
local dead, entries = 0, 0
if #due > 0 then
  for _, id in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
    if of_gone(id) then
      dead = dead + redis.call('LREM', KEYS[4], 0, id)
    end
  end
  for _, zkey in ipairs({ KEYS[5], KEYS[6] }) do
    for _, id in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do
      if of_gone(id) then
        entries = entries + redis.call('ZREM', zkey, id)
      end
    end
  end
end
local workers = redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. ARGV[1])
return { #due, dead, entries, workers }
