-- Takes up to ARGV[2] chats whose CRM debounce window has ended, moving them to `inflight` with a lease
-- so a crashed flusher's claims come back. KEYS: 1 dirty zset (member -> due ms), 2 inflight zset
-- (member -> lease end). ARGV: 1 now ms, 2 max, 3 lease ms, 4 look-ahead ms (chats due that soon come
-- along, so changes a few ms apart share a batch). Returns the claimed members.
local now = tonumber(ARGV[1])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('ZADD', KEYS[1], 'NX', now, m)
  redis.call('ZREM', KEYS[2], m)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + tonumber(ARGV[4] or '0'), 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), m)
end
return due
