-- One Baileys signal key transaction, every type at once. KEYS: 2.. one hash per key type written.
-- ARGV from 2, per hash in KEYS order: the number of fields written, the number deleted, then the
-- written field/value pairs, then the deleted fields.
local a = 2
for i = 2, #KEYS do
  local writes, deletes = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  if writes > 0 then
    local args = {}
    for j = a, a + 2 * writes - 1 do args[#args + 1] = ARGV[j] end
    redis.call('HSET', KEYS[i], unpack(args))
    a = a + 2 * writes
  end
  if deletes > 0 then
    local args = {}
    for j = a, a + deletes - 1 do args[#args + 1] = ARGV[j] end
    redis.call('HDEL', KEYS[i], unpack(args))
    a = a + deletes
  end
end
return 1
