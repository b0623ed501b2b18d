-- The receipt job of batch `gen` fires: it takes every batched key not already receipted. Messages
-- arriving from now on open the next batch. KEYS: 1 batch, 2 meta, 3 sent. ARGV: 1 gen.
-- Returns {due or '', entry JSON...}.
local batch, meta, sent = KEYS[1], KEYS[2], KEYS[3]
local m = redis.call('HMGET', meta, 'gen', 'due')
local due = ''
if m[1] == ARGV[1] then
  redis.call('HSET', meta, 'scheduled', 0)
  due = m[2] or ''
end
local out = { due }
local all = redis.call('HGETALL', batch)
for i = 1, #all, 2 do
  if redis.call('ZSCORE', sent, all[i]) then
    redis.call('HDEL', batch, all[i])
  else
    table.insert(out, all[i + 1])
  end
end
return out
