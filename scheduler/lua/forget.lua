-- forget.lua: drop from the list of searches the ids whose record is gone
-- (expired after retirement, or removed by nas gc).
-- KEYS[1]: <p>:searches      zset id -> submission ms
-- ARGV[1]: key prefix <p>
-- Returns: how many ids were dropped.
local dropped = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. ':search:' .. id) == 0 then
    dropped = dropped + redis.call('ZREM', KEYS[1], id)
  end
end
return dropped
