-- Schedules a chat's reminder, replacing the one still pending (one reminder dot per chat).
-- KEYS: 1 the chat's pointer to its pending reminder, 2 the chat's reminder index (zset by due time).
-- ARGV: 1 reminder id, 2 key base of reminder records, 3 due ms, 4.. field/value pairs of the record.
-- Returns the id of the reminder it replaced, or false.
local pointer, index, rid, base = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local old = redis.call('GET', pointer)
local replaced = false
if old then
  local st = redis.call('HGET', base .. old, 'status')
  if st == 'scheduled' or st == 'waiting_for_app_state' then
    redis.call('HSET', base .. old, 'status', 'replaced', 'updatedAt', ARGV[3])
    replaced = old
  end
end
local fields = {}
for i = 4, #ARGV do table.insert(fields, ARGV[i]) end
redis.call('HSET', base .. rid, unpack(fields))
redis.call('SET', pointer, rid)
redis.call('ZADD', index, ARGV[3], rid)
-- Keep the chat's history short: the 50 newest reminders.
local extra = redis.call('ZCARD', index) - 50
if extra > 0 then
  for _, gone in ipairs(redis.call('ZRANGE', index, 0, extra - 1)) do redis.call('DEL', base .. gone) end
  redis.call('ZREMRANGEBYRANK', index, 0, extra - 1)
end
return replaced
