-- Name (group subject, contact name) and archive flag. ARGV: 2 jid, 3 chat type, 4 name or '',
-- 5 archived '1'/'0'/'' (unchanged), 6 default owner, 7 now ms, 8 '1' when from history sync,
-- 9 '1' to flag the chat marked unread (history sync) or ''.
-- Creates the chat when new, except for history sync: its state of a chat not seen yet is remembered
-- (chat-pre, applied by ensureChat) rather than creating an empty chat; on a known chat its name only
-- fills an empty one.
local c = locate(ARGV[2], knownAlt(ARGV[2]))
local history = ARGV[8] == '1'
if not c then
  if history then
    redis.call('HSET', BASE .. 'chat-pre', ARGV[2],
      cjson.encode({ name = ARGV[4], archived = ARGV[5], markedUnread = ARGV[9] }))
    return false
  end
  c = ARGV[2]
  ensureChat(c, ARGV[3], ARGV[6], ARGV[7])
end
local owner, un = countedState(c)
if present(ARGV[4]) and not (history and present(redis.call('HGET', chatKey(c), 'name'))) then
  redis.call('HSET', chatKey(c), 'name', ARGV[4])
end
if present(ARGV[5]) then redis.call('HSET', chatKey(c), 'archived', ARGV[5]) end
if ARGV[9] == '1' then redis.call('HSET', chatKey(c), 'markedUnread', '1') end
settle(c, owner, un)
return reply(c)
