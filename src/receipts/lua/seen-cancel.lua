-- The chat was read on the phone or WhatsApp Web first: messages up to the read are not to be receipted
-- any more. KEYS: 1 pending, 2 batch, 3 meta. ARGV: 1 read instant (ms): entries whose message timestamp
-- is later stay (a message that arrived after the read still gets its receipt).
-- Returns the generation of the batch whose job must be removed (the batch is now empty), or false.
local upTo = tonumber(ARGV[1])
for _, k in ipairs({ KEYS[1], KEYS[2] }) do
  local all = redis.call('HGETALL', k)
  for i = 1, #all, 2 do
    local ok, e = pcall(cjson.decode, all[i + 1])
    if not ok or type(e) ~= 'table' or tonumber(e.timestamp) == nil or tonumber(e.timestamp) <= upTo then
      redis.call('HDEL', k, all[i])
    end
  end
end
if redis.call('HLEN', KEYS[2]) > 0 then return false end
local gen = redis.call('HGET', KEYS[3], 'gen')
local scheduled = redis.call('HGET', KEYS[3], 'scheduled') == '1'
redis.call('HSET', KEYS[3], 'scheduled', 0)
if scheduled then return gen end
return false
