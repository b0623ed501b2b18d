-- A person this session has seen. ARGV: 2 jid, 3 alternate jid or '', 4 saved name or '',
-- 5 '1' when seen in a DM, 6 group jid or '', 7 push name or '', 8 verified business name or ''.
local id = rememberContact(ARGV[2], ARGV[3], ARGV[4], ARGV[7], ARGV[5], ARGV[6], ARGV[8])
-- A saved name names the DM chat too; a verified name only a DM chat that has no name yet (a business's
-- verified name comes with each of its messages and must not replace the name a user saved).
if present(ARGV[4]) or present(ARGV[8]) then
  local c = locate(ARGV[2], knownAlt(ARGV[2]) or ARGV[3])
  if c and redis.call('HGET', chatKey(c), 'type') == 'dm' then
    if present(ARGV[4]) then redis.call('HSET', chatKey(c), 'name', ARGV[4])
    elseif not present(redis.call('HGET', chatKey(c), 'name')) then redis.call('HSET', chatKey(c), 'name', ARGV[8]) end
  end
end
return id
