-- A person this session has seen (DM partner or group participant). ARGV: 2 jid, 3 alternate jid or '',
-- 4 name or '', 5 '1' when seen in a DM, 6 group jid or ''. One record per person: LID and phone forms
-- resolve to the same record through the lid<->pn maps.
local jid, alt, name, dm, group = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not present(alt) then alt = knownAlt(jid) or '' end
local K_CONTACTS, K_IDX = BASE .. 'contacts', BASE .. 'contacts-idx'
local id = jid
if redis.call('HEXISTS', K_CONTACTS, jid) == 0 and present(alt) and redis.call('HEXISTS', K_CONTACTS, alt) == 1 then id = alt end
local raw = redis.call('HGET', K_CONTACTS, id)
local c = raw and cjson.decode(raw) or { id = id, name = '', phoneJid = '', lid = '', dm = false, groups = {} }
for _, j in ipairs({ jid, alt }) do
  if present(j) then
    if string.sub(j, -4) == '@lid' then c.lid = j else c.phoneJid = j end
  end
end
if present(name) then c.name = name end
if dm == '1' then c.dm = true end
if present(group) then
  local found = false
  for _, g in ipairs(c.groups) do if g == group then found = true end end
  if not found and #c.groups < 256 then table.insert(c.groups, group) end
  redis.call('SADD', BASE .. 'group-members:' .. group, id)
end
redis.call('HSET', K_CONTACTS, id, cjson.encode(c))
redis.call('ZADD', K_IDX, 0, id)
return id
