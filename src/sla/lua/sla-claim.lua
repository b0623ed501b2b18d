-- A level's timer fires. It may act only if the chat is still in the same waiting period, and only once
-- per period and level. KEYS: 1 chat hash, 2 SLA clock hash, 3 fired-levels hash.
-- ARGV: 1 waitSeq, 2 level, 3 now ms.
-- Returns 1 claimed (act now), 3 resume (claimed before, actions not all confirmed: act again, they are
-- idempotent), 2 already done, 0 stale (answered, or a newer waiting period).
local field = ARGV[1] .. ':' .. ARGV[2]
local mark = redis.call('HGET', KEYS[3], field)
if mark == 'done' then return 2 end
if mark then return 3 end
local c = redis.call('HMGET', KEYS[1], 'waitSeq', 'unanswered')
local clockSeq = redis.call('HGET', KEYS[2], 'waitSeq')
if c[1] ~= ARGV[1] or (tonumber(c[2]) or 0) == 0 or clockSeq ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[3], field, 'started:' .. ARGV[3])
return 1
