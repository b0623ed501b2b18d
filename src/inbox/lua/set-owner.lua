-- The chat's CRM owner changed; its unanswered messages move to the new owner's totals.
-- ARGV: 2 jid, 3 owner id or '~' for unassigned.
local c = locate(ARGV[2], knownAlt(ARGV[2]))
if not c then return false end
local owner, un = countedState(c)
redis.call('HSET', chatKey(c), 'owner', ARGV[3])
settle(c, owner, un)
return reply(c)
