-- Moves a reminder to a final or waiting status, only from a live one (scheduled / waiting), so a
-- cancelled or replaced reminder never fires and a finished one never fires twice.
-- KEYS: 1 the reminder record, 2 the chat's pointer. ARGV: 1 reminder id, 2 new status, 3 now ms,
-- 4 detail ('' none). Returns the previous status, or false when the reminder is unknown.
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return false end
if st ~= 'scheduled' and st ~= 'waiting_for_app_state' then return st end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updatedAt', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'detail', ARGV[4]) end
if ARGV[2] == 'waiting_for_app_state' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if ARGV[2] ~= 'scheduled' and ARGV[2] ~= 'waiting_for_app_state' and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return st
