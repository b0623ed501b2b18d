-- WhatsApp's unread count went to 0 (read on a device or through us). ARGV: 2 jid, 3 at ms,
-- 4.. optional de-dup ids ('i/<id>') of messages we receipted: then the read reaches up to the newest of
-- them we know instead of `at` (none known: nothing changes).
-- Viewing a chat never answers it: unanswered is left alone.
local c = locate(ARGV[2], knownAlt(ARGV[2]))
if not c then return false end
local ck = chatKey(c)
local at = ARGV[3]
if #ARGV > 3 then
  local newest = nil
  for i = 4, #ARGV do
    local s = redis.call('ZSCORE', msgsKey(c), ARGV[i])
    if s and (not newest or tonumber(s) > newest) then newest = tonumber(s) end
  end
  if not newest then return reply(c) end
  at = string.format('%d', newest)
end
local owner, un = countedState(c)
maxField(ck, 'lastReadAt', at)
-- A read covers the messages up to its instant; customer messages after it (a read that reached us
-- late) stay unread, so the outcome does not depend on arrival order.
local unread = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', msgsKey(c), '(' .. redis.call('HGET', ck, 'lastReadAt'), '+inf')) do
  if string.sub(m, 1, 2) == 'i/' then unread = unread + 1 end
end
local fields = { 'unread', unread }
-- Our own receipt does not take the reminder dot off: only a read does.
if #ARGV == 3 then table.insert(fields, 'markedUnread'); table.insert(fields, 0) end
redis.call('HSET', ck, unpack(fields))
settle(c, owner, un)
return reply(c)
