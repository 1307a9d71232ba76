-- alive.lua: note that a client can reach Redis (see the silences in
-- prelude.lua). The leading scheduler calls it every second, so that a
-- fleet whose trainers are all busy with long jobs (renewing once a third
-- of their lease) is not taken for an outage.
-- KEYS[1]: <p>:q:stats
-- ARGV[1]: key prefix <p>
-- Returns: 1
note_alive(ARGV[1], now_ms())
return 1
