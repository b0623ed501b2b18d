-- "No reply needed" or a counter reset: every customer message up to `at` counts as answered.
-- ARGV: 2 jid, 3 at ms, 4 owner (optional: clear only if the chat's owner is this user; '' = any owner).
local c = locate(ARGV[2], knownAlt(ARGV[2]))
if not c then return false end
local ck = chatKey(c)
local owner, un = countedState(c)
if present(ARGV[4]) and owner ~= ARGV[4] then return reply(c, 0) end
maxField(ck, 'lastAnswerAt', ARGV[3])
redis.call('ZREMRANGEBYSCORE', waitKey(c), '-inf', ARGV[3])
settle(c, owner, un)
return reply(c, un)
