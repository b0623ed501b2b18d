-- Saves a session's WhatsApp creds. KEYS: 2 creds. ARGV: 2 the serialised creds.
redis.call('SET', KEYS[2], ARGV[2])
return 1
