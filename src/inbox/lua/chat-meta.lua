-- Name (group subject, contact name) and archive flag. ARGV: 2 jid, 3 chat type, 4 name or '',
-- 5 archived '1'/'0'/'' (unchanged), 6 default owner, 7 now ms. Creates the chat when new.
local c = locate(ARGV[2], knownAlt(ARGV[2]))
if not c then
  c = ARGV[2]
  ensureChat(c, ARGV[3], ARGV[6], ARGV[7])
end
local owner, un = countedState(c)
if present(ARGV[4]) then redis.call('HSET', chatKey(c), 'name', ARGV[4]) end
if present(ARGV[5]) then redis.call('HSET', chatKey(c), 'archived', ARGV[5]) end
settle(c, owner, un)
return reply(c)
