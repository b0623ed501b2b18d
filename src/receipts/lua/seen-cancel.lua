-- The chat was read on the phone or WhatsApp Web first: nothing is left to receipt. KEYS: 1 pending,
-- 2 batch, 3 meta. Returns the generation of the batch whose job must be removed, or false.
local gen = redis.call('HGET', KEYS[3], 'gen')
local scheduled = redis.call('HGET', KEYS[3], 'scheduled') == '1'
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[3], 'scheduled', 0)
if scheduled then return gen end
return false
