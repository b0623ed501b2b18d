-- Prepended to every fenced write (one script = one atomic write, checked and applied together).
-- KEYS[1]: the session's lease epoch (INCR'd by every new holder); ARGV[1]: the writer's epoch, or ''
-- for a writer that holds no lease (the API, an operator), whose writes are never refused.
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED lease epoch ' .. ARGV[1] .. ' is no longer current')
end
