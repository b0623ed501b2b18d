-- These messages got their receipt: they leave the batch, and are remembered as sent (bounded) so a
-- retried or duplicated job never receipts them again. KEYS: 1 batch, 2 pending, 3 sent.
-- ARGV: 1 now, 2.. ids.
local batch, pending, sent = KEYS[1], KEYS[2], KEYS[3]
for i = 2, #ARGV do
  redis.call('HDEL', batch, ARGV[i])
  redis.call('HDEL', pending, ARGV[i])
  redis.call('ZADD', sent, ARGV[1], ARGV[i])
end
redis.call('ZREMRANGEBYRANK', sent, 0, -1001)
return #ARGV - 1
