-- The receipt job of batch `gen` fires. KEYS: 1 batch, 2 meta, 3 sent. ARGV: 1 gen, 2 now ms.
-- Returns {'later', due} when the batch's due time moved past now (a message joined after BullMQ had
-- already promoted the job: it must wait, not read early); {'', } when the job is stale (the batch
-- was cancelled or this generation is gone); else {due, entry JSON...}: what to receipt.
-- A first claim takes what the batch holds now (later messages open the next batch); a retried claim
-- of the same generation gets exactly what it claimed before, never a newer batch's messages.
local batch, meta, sent = KEYS[1], KEYS[2], KEYS[3]
local gen, now = ARGV[1], tonumber(ARGV[2])
local m = redis.call('HMGET', meta, 'gen', 'due', 'scheduled', 'claimedGen', 'claimed', 'claimedDue')
local ids, due
if m[1] == gen and m[3] == '1' then
  if tonumber(m[2]) > now + 5 then return { 'later', m[2] } end
  ids = redis.call('HKEYS', batch)
  due = m[2]
  redis.call('HSET', meta, 'scheduled', 0, 'claimedGen', gen, 'claimed', cjson.encode(ids), 'claimedDue', due)
elseif m[4] == gen then
  ids = cjson.decode(m[5])
  due = m[6]
else
  return { '' }
end
local out = { due }
for _, id in ipairs(ids) do
  if redis.call('ZSCORE', sent, id) then
    redis.call('HDEL', batch, id)
  else
    local entry = redis.call('HGET', batch, id)
    if entry then table.insert(out, entry) end
  end
end
return out
