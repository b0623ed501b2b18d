-- The chat was flagged unread (the "reminder dot"). ARGV: 2 jid, 3 flag '1'/'0'.
local c = locate(ARGV[2], knownAlt(ARGV[2]))
if not c then return false end
local owner, un = countedState(c)
redis.call('HSET', chatKey(c), 'markedUnread', ARGV[3])
settle(c, owner, un)
return reply(c)
