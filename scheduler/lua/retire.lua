-- retire.lua: let a finished search's record and evaluations go after a
-- while (at once when keep is 0); it leaves the retiring set. The queue's
-- own retire.lua does the same for the search's jobs and results.
-- KEYS[1]: <p>:search:<id>   hash (state)
-- KEYS[2]: <p>:evals:<id>    list of evaluation JSON
-- KEYS[3]: <p>:retiring      set of finished searches to archive and retire
-- ARGV[1]: search id
-- ARGV[2]: how long to keep them (ms; 0 deletes them now)
-- Returns: 1
local keep = tonumber(ARGV[2])
for i = 1, 2 do
  if keep <= 0 then
    redis.call('DEL', KEYS[i])
  else
    redis.call('PEXPIRE', KEYS[i], keep)
  end
end
redis.call('SREM', KEYS[3], ARGV[1])
return 1
