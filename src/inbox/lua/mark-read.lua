-- WhatsApp's unread count went to 0 (read on a device or through us). ARGV: 2 jid, 3 at ms.
-- Viewing a chat never answers it: unanswered is left alone.
local c = locate(ARGV[2], knownAlt(ARGV[2]))
if not c then return false end
local ck = chatKey(c)
local owner, un = countedState(c)
maxField(ck, 'lastReadAt', ARGV[3])
-- A read covers the messages up to its instant; customer messages after it (a read that reached us
-- late) stay unread, so the outcome does not depend on arrival order.
local unread = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', msgsKey(c), '(' .. redis.call('HGET', ck, 'lastReadAt'), '+inf')) do
  if string.sub(m, 1, 2) == 'i/' then unread = unread + 1 end
end
redis.call('HSET', ck, 'unread', unread, 'markedUnread', 0)
settle(c, owner, un)
return reply(c)
