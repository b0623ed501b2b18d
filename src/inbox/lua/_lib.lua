-- Shared by every chat-state script (prepended at load time). One script = one atomic transition.
-- KEYS: 1 alias, 2 chats index, 3 unread index, 4 unanswered index, 5 owner->unanswered messages,
--       6 owner->waiting chats, 7 lid->pn, 8 pn->lid.  ARGV[1]: the session's key base "<prefix>:{sid}:".
local K_ALIAS, K_CHATS, K_UNREAD, K_UNANS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_OWN_UN, K_OWN_WAIT, K_LID_PN, K_PN_LID = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local BASE = ARGV[1]
-- ARGV[2]: the lease epoch of the session holder applying its WhatsApp events, '' for any other writer.
-- Fencing (src/fence): a holder whose epoch is no longer the session's (a newer holder took it) changes
-- nothing. Taken out of ARGV so each script reads its own arguments from ARGV[2] on.
local FENCE = table.remove(ARGV, 2)
if FENCE ~= '' and redis.call('GET', BASE .. 'lease-epoch') ~= FENCE then
  return redis.error_reply('FENCED lease epoch ' .. FENCE .. ' is no longer current')
end
local UNASSIGNED = '~'
local SEEN_KEEP = 1000 -- recent message ids remembered per chat for de-duplication
-- How long a chat's rise in the index is remembered (the `moves` stream), so an overview cursor can tell
-- which chats passed it since the page that issued it (overview-page.lua). Also how long a cursor lives.
local MOVES_KEEP_MS = 300000

local function chatKey(jid) return BASE .. 'chat:' .. jid end
local function waitKey(jid) return BASE .. 'wait:' .. jid end
local function msgsKey(jid) return BASE .. 'msgs:' .. jid end
local function num(v) return tonumber(v) or 0 end
local function present(v) return v and v ~= '' end

local function resolve(jid)
  if not present(jid) then return nil end
  local c = redis.call('HGET', K_ALIAS, jid)
  if c then return c end
  return nil
end

-- The other form (LID <-> phone number) of a user jid, if a mapping is known.
local function knownAlt(jid)
  local a = redis.call('HGET', K_LID_PN, jid)
  if a then return a end
  a = redis.call('HGET', K_PN_LID, jid)
  if a then return a end
  return nil
end

local function countedState(jid)
  local v = redis.call('HMGET', chatKey(jid), 'owner', 'unanswered')
  return v[1] or UNASSIGNED, num(v[2])
end

local function bumpOwner(owner, dMessages, dChats)
  if dMessages ~= 0 and redis.call('HINCRBY', K_OWN_UN, owner, dMessages) == 0 then redis.call('HDEL', K_OWN_UN, owner) end
  if dChats ~= 0 and redis.call('HINCRBY', K_OWN_WAIT, owner, dChats) == 0 then redis.call('HDEL', K_OWN_WAIT, owner) end
end

local function maxField(key, field, value)
  if num(value) > num(redis.call('HGET', key, field)) then redis.call('HSET', key, field, value) end
end

-- Creates the chat if it does not exist yet; returns 1 when created.
local function ensureChat(jid, chatType, owner, now)
  -- lastActivity starts at 0: it follows message timestamps, not the time we happened to learn of the chat.
  local ck = chatKey(jid)
  if redis.call('EXISTS', ck) == 1 then return 0 end
  redis.call('HSET', ck, 'jid', jid, 'alt', '', 'type', chatType, 'name', '', 'unread', 0, 'markedUnread', 0,
    'unanswered', 0, 'waitingSince', '', 'waitSeq', 0, 'lastInboundAt', 0, 'lastOutboundAt', 0,
    'lastReadAt', 0, 'lastAnswerAt', 0, 'lastActivity', 0, 'owner', present(owner) and owner or UNASSIGNED,
    'archived', 0, 'createdAt', now)
  redis.call('HSET', K_ALIAS, jid, jid)
  -- State history sync told us before the chat's first message (chat-meta.lua, fromHistory).
  local pre = redis.call('HGET', BASE .. 'chat-pre', jid)
  if pre then
    local p = cjson.decode(pre)
    if type(p.name) == 'string' and p.name ~= '' then redis.call('HSET', ck, 'name', p.name) end
    if p.archived == '1' or p.archived == '0' then redis.call('HSET', ck, 'archived', p.archived) end
    if p.markedUnread == '1' then redis.call('HSET', ck, 'markedUnread', '1') end
    redis.call('HDEL', BASE .. 'chat-pre', jid)
  end
  return 1
end

local function linkAlias(canonical, other)
  if not present(other) or other == canonical then return end
  redis.call('HSET', K_ALIAS, other, canonical)
  local ck = chatKey(canonical)
  if not present(redis.call('HGET', ck, 'alt')) then redis.call('HSET', ck, 'alt', other) end
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Remembers that a chat rose in the index from score `from` (a chat never sinks: lastActivity only grows).
-- Written by messages, never by reads; trimmed to the last MOVES_KEEP_MS and gone when the session idles.
local function noteMove(jid, from)
  local k = BASE .. 'moves'
  redis.call('XADD', k, 'MINID', '~', nowMs() - MOVES_KEEP_MS, '*', 'j', jid, 'f', from)
  redis.call('PEXPIRE', k, MOVES_KEEP_MS)
end

-- Derives unanswered/waitingSince from the waiting set, then keeps indexes and owner totals in step.
local function settle(jid, beforeOwner, beforeUnanswered)
  local ck, wk = chatKey(jid), waitKey(jid)
  local n = redis.call('ZCARD', wk)
  if n > 0 then
    local first = redis.call('ZRANGE', wk, 0, 0, 'WITHSCORES')
    if not present(redis.call('HGET', ck, 'waitingSince')) then redis.call('HINCRBY', ck, 'waitSeq', 1) end
    redis.call('HSET', ck, 'unanswered', n, 'waitingSince', first[2])
  else
    redis.call('HSET', ck, 'unanswered', 0, 'waitingSince', '')
  end
  local v = redis.call('HMGET', ck, 'owner', 'lastActivity', 'unread', 'markedUnread')
  local owner, activity = v[1] or UNASSIGNED, num(v[2])
  if owner ~= beforeOwner or n ~= beforeUnanswered then
    if beforeUnanswered > 0 then bumpOwner(beforeOwner, -beforeUnanswered, -1) end
    if n > 0 then bumpOwner(owner, n, 1) end
  end
  local before = redis.call('ZSCORE', K_CHATS, jid)
  redis.call('ZADD', K_CHATS, activity, jid)
  if before and activity > tonumber(before) then noteMove(jid, before) end
  if num(v[3]) > 0 or v[4] == '1' then redis.call('ZADD', K_UNREAD, activity, jid) else redis.call('ZREM', K_UNREAD, jid) end
  if n > 0 then redis.call('ZADD', K_UNANS, activity, jid) else redis.call('ZREM', K_UNANS, jid) end
end

-- Folds chat b into chat a (two forms of one conversation met late). Returns a.
local function merge(a, b)
  local ka, kb = chatKey(a), chatKey(b)
  local ownerA, unA = countedState(a)
  local ownerB, unB = countedState(b)
  if unB > 0 then bumpOwner(ownerB, -unB, -1) end
  redis.call('ZUNIONSTORE', waitKey(a), 2, waitKey(a), waitKey(b), 'AGGREGATE', 'MIN')
  redis.call('ZUNIONSTORE', msgsKey(a), 2, msgsKey(a), msgsKey(b), 'AGGREGATE', 'MIN')
  local B = redis.call('HGETALL', kb)
  local hb = {}
  for i = 1, #B, 2 do hb[B[i]] = B[i + 1] end
  redis.call('HINCRBY', ka, 'unread', num(hb.unread))
  if hb.markedUnread == '1' then redis.call('HSET', ka, 'markedUnread', 1) end
  for _, f in ipairs({ 'lastInboundAt', 'lastOutboundAt', 'lastReadAt', 'lastAnswerAt', 'lastActivity', 'waitSeq' }) do
    maxField(ka, f, hb[f])
  end
  if num(hb.lmTs) > num(redis.call('HGET', ka, 'lmTs')) then
    redis.call('HSET', ka, 'lmId', hb.lmId, 'lmFromMe', hb.lmFromMe, 'lmPreview', hb.lmPreview, 'lmTs', hb.lmTs)
    redis.call('HDEL', ka, 'lmKey', 'lmJid', 'lmPart')
    -- A chat written before the key was stored in parts still has it as JSON (lmKey).
    for _, f in ipairs({ 'lmJid', 'lmPart', 'lmKey' }) do
      if hb[f] then redis.call('HSET', ka, f, hb[f]) end
    end
  end
  if redis.call('HGET', ka, 'owner') == UNASSIGNED and present(hb.owner) then redis.call('HSET', ka, 'owner', hb.owner) end
  if not present(redis.call('HGET', ka, 'name')) and present(hb.name) then redis.call('HSET', ka, 'name', hb.name) end
  redis.call('ZREMRANGEBYSCORE', waitKey(a), '-inf', num(redis.call('HGET', ka, 'lastAnswerAt')))
  redis.call('HSET', K_ALIAS, b, a)
  linkAlias(a, b)
  if present(hb.alt) then redis.call('HSET', K_ALIAS, hb.alt, a) end
  redis.call('DEL', kb, waitKey(b), msgsKey(b))
  redis.call('ZREM', K_CHATS, b)
  redis.call('ZREM', K_UNREAD, b)
  redis.call('ZREM', K_UNANS, b)
  settle(a, ownerA, unA)
  return a
end

-- Finds (or merges) the one chat behind the given forms; nil when none exists.
local function locate(jid, alt)
  local c1, c2 = resolve(jid), resolve(alt)
  if c1 and c2 and c1 ~= c2 then return merge(c1, c2) end
  return c1 or c2
end

-- The state every script answers with: enough for the caller to act on the transition.
local function reply(jid, extra)
  local v = redis.call('HMGET', chatKey(jid), 'unanswered', 'waitingSince', 'waitSeq', 'unread', 'markedUnread', 'owner',
    'lastOutboundAt')
  return { jid, extra or 0, num(v[1]), v[2] or '', num(v[3]), num(v[4]), v[5] or '0', v[6] or UNASSIGNED, num(v[7]) }
end

-- Remembers a person this session has seen (DM partner or group participant). One record per person:
-- LID and phone forms resolve to the same record through the lid<->pn maps. The name saved in our
-- address book and the push name the person chose are kept apart; `name` shows the saved one first.
local function rememberContact(jid, alt, savedName, pushName, dm, group, verifiedName)
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
  if present(savedName) then c.savedName = savedName end
  if present(pushName) then c.pushName = pushName end
  if present(verifiedName) then c.verifiedName = verifiedName end
  if present(c.savedName) then c.name = c.savedName
  elseif present(c.verifiedName) then c.name = c.verifiedName
  elseif present(c.pushName) then c.name = c.pushName end
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
end
