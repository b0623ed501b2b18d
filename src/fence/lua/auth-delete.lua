-- Deletes auth keys of a session (a logout's wipe, Baileys' `clear`). KEYS: 2.. the keys.
local n = 0
for i = 2, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
return n
