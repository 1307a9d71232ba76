-- retire.lua: let a finished search's queue records go after a while: its
-- jobs, ready set, result log, counts, dedupe keys and job counter expire
-- (or go at once when keep is 0), and the search is noted in <p>:retired so
-- that sweep.lua clears what shared indexes hold of it once they are gone.
-- Idempotent; retiring again sets the expiry again.
-- KEYS[1]: <p>:jobseq:<sid>   the search's job counter (job ids run 1..n)
-- KEYS[2]: <p>:retired        zset search id -> when its records are gone (ms)
-- ARGV[1]: key prefix <p>
-- ARGV[2]: search id
-- ARGV[3]: how long to keep the records (ms; 0 deletes them now)
-- Returns: the number of the search's jobs.
local prefix, sid, keep = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local function let_go(key)
  if keep <= 0 then
    redis.call('DEL', key)
  else
    redis.call('PEXPIRE', key, keep)
  end
end
for i = 1, n do
  let_go(prefix .. ':q:job:' .. sid .. '.' .. string.format('%010d', i))
end
for _, kind in ipairs({ 'q:ready', 'q:log', 'q:count', 'dedupe' }) do
  let_go(prefix .. ':' .. kind .. ':' .. sid)
end
let_go(KEYS[1])
redis.call('ZADD', KEYS[2], now_ms() + keep, sid)
return n
