-- A receipt asked for explicitly (the API, or a reply from our side that reads the chat first): the
-- given remembered messages (all when none are named) join the batch, which is then due no later than
-- now + delay. KEYS: 1 pending, 2 batch, 3 meta. ARGV: 1 now ms, 2 delay ms, 3 clamp ms, 4.. ids.
-- Returns {0} nothing to receipt, {1, gen, due} new batch, {2, gen, due} existing batch (due pulled in).
local pending, batch, meta = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local want = now + tonumber(ARGV[2])
local ids = {}
if #ARGV > 3 then
  for i = 4, #ARGV do table.insert(ids, ARGV[i]) end
else
  ids = redis.call('HKEYS', pending)
end
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', pending, id)
  if entry then
    redis.call('HSET', batch, id, entry)
    redis.call('HDEL', pending, id)
  end
end
if redis.call('HLEN', batch) == 0 then return { 0 } end
local m = redis.call('HMGET', meta, 'scheduled', 'due', 'gen')
if m[1] ~= '1' then
  local gen = redis.call('HINCRBY', meta, 'gen', 1)
  redis.call('HSET', meta, 'scheduled', 1, 'due', want, 'clampAt', now + tonumber(ARGV[3]))
  return { 1, gen, want }
end
local due = math.min(tonumber(m[2]), want)
redis.call('HSET', meta, 'due', due)
return { 2, tonumber(m[3]), due }
