-- A person this session has seen. ARGV: 2 jid, 3 alternate jid or '', 4 saved name or '',
-- 5 '1' when seen in a DM, 6 group jid or '', 7 push name or ''.
local id = rememberContact(ARGV[2], ARGV[3], ARGV[4], ARGV[7], ARGV[5], ARGV[6])
-- A saved name names the DM chat too (a push name only names a chat that has no name yet).
if present(ARGV[4]) then
  local c = locate(ARGV[2], knownAlt(ARGV[2]) or ARGV[3])
  if c and redis.call('HGET', chatKey(c), 'type') == 'dm' then redis.call('HSET', chatKey(c), 'name', ARGV[4]) end
end
return id
