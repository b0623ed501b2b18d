-- These messages got their receipt: they leave the batch, and are remembered as sent (bounded) so a
-- retried or duplicated job never receipts them again. KEYS: 1 batch, 2 pending, 3 sent, 4 meta.
-- ARGV: 1 now, 2.. ids.
local batch, pending, sent, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local done = {}
for i = 2, #ARGV do
  redis.call('HDEL', batch, ARGV[i])
  redis.call('HDEL', pending, ARGV[i])
  redis.call('ZADD', sent, ARGV[1], ARGV[i])
  done[ARGV[i]] = true
end
redis.call('ZREMRANGEBYRANK', sent, 0, -1001)
-- The claim remembered its ids for a retry of the same job; a retry skips the sent ones anyway, so only
-- the rest is kept. Usually nothing is left: the meta hash is then written anew with '[]', because Redis
-- never turns a hash back into a compact listpack once a long value (the ids as JSON) made it a table.
local claimed = redis.call('HGET', meta, 'claimed')
if claimed then
  local left = {}
  for _, id in ipairs(cjson.decode(claimed)) do
    if not done[id] then table.insert(left, id) end
  end
  if #left > 0 then
    redis.call('HSET', meta, 'claimed', cjson.encode(left))
  else
    local fields = redis.call('HGETALL', meta)
    for i = 1, #fields, 2 do
      if fields[i] == 'claimed' then fields[i + 1] = '[]' end
    end
    redis.call('DEL', meta)
    redis.call('HSET', meta, unpack(fields))
  end
end
return #ARGV - 1
