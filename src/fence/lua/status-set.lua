-- A session's status and its history. KEYS: 2 status, 3 history. ARGV: 2 record JSON, 3 history kept.
redis.call('SET', KEYS[2], ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return 1
