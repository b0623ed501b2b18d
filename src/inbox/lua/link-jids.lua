-- WhatsApp told us a LID and a phone number are one person. ARGV: 2 lid jid, 3 phone-number jid.
-- If both forms already have a chat, they are merged so one conversation never shows as two.
local lid, pn = ARGV[2], ARGV[3]
redis.call('HSET', K_LID_PN, lid, pn)
redis.call('HSET', K_PN_LID, pn, lid)
local c = locate(lid, pn)
if not c then return false end
linkAlias(c, lid)
linkAlias(c, pn)
return reply(c)
