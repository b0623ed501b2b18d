-- A customer message arrives. KEYS: 1 pending hash (remembered, not yet asked for), 2 batch hash (in
-- the next receipt), 3 meta hash, 4 sent zset. Entries: message id -> entry JSON.
-- ARGV: 1 message id, 2 entry JSON, 3 now ms, 4 delay if this message opens a batch, 5 how far past
-- now the due time must move to cover this message's reading, 6 clamp (max delay), 7 '1' to put it in
-- the batch (auto policy), '0' to only remember it (manual policy: the API asks later).
-- Returns {0} duplicate, {3} remembered only, {1, gen, due} new batch, {2, gen, due} joined a batch,
-- {4, gen, due} already in the scheduled batch (a redelivery: the caller makes sure the job exists).
-- The due time of a batch moves later for each message but never past first arrival + clamp.
local pending, batch, meta, sent = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, now = ARGV[1], tonumber(ARGV[3])
if redis.call('ZSCORE', sent, id) then return { 0 } end
if redis.call('HEXISTS', batch, id) == 1 then
  local s = redis.call('HMGET', meta, 'scheduled', 'gen', 'due')
  if s[1] == '1' then return { 4, tonumber(s[2]), tonumber(s[3]) } end
  return { 0 }
end
if ARGV[7] ~= '1' then
  if redis.call('HSETNX', pending, id, ARGV[2]) == 0 then return { 0 } end
  return { 3 }
end
redis.call('HDEL', pending, id)
redis.call('HSET', batch, id, ARGV[2])
local m = redis.call('HMGET', meta, 'scheduled', 'due', 'clampAt', 'gen')
if m[1] ~= '1' then
  local gen = redis.call('HINCRBY', meta, 'gen', 1)
  local due = now + tonumber(ARGV[4])
  redis.call('HSET', meta, 'scheduled', 1, 'due', due, 'clampAt', now + tonumber(ARGV[6]))
  return { 1, gen, due }
end
local due, clampAt = tonumber(m[2]), tonumber(m[3])
-- Mirrors extendDue() in delay-model.ts: cover the new reading time, stop at the clamp, never earlier.
local newDue = math.max(due, math.min(now + tonumber(ARGV[5]), clampAt))
if newDue > due then redis.call('HSET', meta, 'due', newDue) end
return { 2, tonumber(m[4]), newDue }
