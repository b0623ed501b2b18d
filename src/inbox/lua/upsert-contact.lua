-- A person this session has seen. ARGV: 2 jid, 3 alternate jid or '', 4 name or '',
-- 5 '1' when seen in a DM, 6 group jid or ''.
return rememberContact(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
