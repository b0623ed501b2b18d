-- A message in or out. ARGV: 2 chat jid as received, 3 alternate jid or '', 4 chat type, 5 de-dup id,
-- 6 fromMe '1'/'0', 7 timestamp ms, 8 preview, 9 group sender (key.participant) or '', 10 push name or '',
-- 11 '1' if this outbound message counts as an answer, 12 default owner or '', 13 message id, 14 now ms,
-- 15 sender jid to remember as a contact or '', 16 its alternate or '', 17 '1' for a DM, 18 group jid or ''.
-- Returns reply() with extra = 1 when the message was a duplicate, 2 when it created the chat.
local jid, alt, chatType, dedupe = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local fromMe, ts = ARGV[6] == '1', tonumber(ARGV[7])
if not present(alt) then alt = knownAlt(jid) or '' end

local c = locate(jid, alt)
local created = 0
if not c then
  c = jid
  created = ensureChat(c, chatType, ARGV[12], ARGV[14])
end
linkAlias(c, jid)
linkAlias(c, alt)

local ck, mk = chatKey(c), msgsKey(c)
if redis.call('ZSCORE', mk, dedupe) then
  -- The content of a message first seen undecrypted (same key): it fills the empty preview, nothing more.
  if present(ARGV[8]) and redis.call('HGET', ck, 'lmId') == ARGV[13] and not present(redis.call('HGET', ck, 'lmPreview')) then
    redis.call('HSET', ck, 'lmPreview', ARGV[8])
  end
  return reply(c, 1)
end
-- Past the remembered window, a message older than everything remembered was processed long ago
-- (a replay of deep history): treating it as seen keeps replays idempotent with bounded memory.
if redis.call('ZCARD', mk) >= SEEN_KEEP then
  local oldest = redis.call('ZRANGE', mk, 0, 0, 'WITHSCORES')
  if ts < tonumber(oldest[2]) then return reply(c, 1) end
end
redis.call('ZADD', mk, ts, dedupe)
if redis.call('ZCARD', mk) > SEEN_KEEP then redis.call('ZREMRANGEBYRANK', mk, 0, -(SEEN_KEEP + 1)) end

local beforeOwner, beforeUn = countedState(c)
if fromMe then
  maxField(ck, 'lastOutboundAt', ts)
  if ARGV[11] == '1' then
    maxField(ck, 'lastAnswerAt', ts)
    redis.call('ZREMRANGEBYSCORE', waitKey(c), '-inf', ts)
  end
else
  maxField(ck, 'lastInboundAt', ts)
  -- Only a message newer than the last answer waits for a reply (a late backlog message does not).
  if ts > num(redis.call('HGET', ck, 'lastAnswerAt')) then redis.call('ZADD', waitKey(c), ts, ARGV[13]) end
  if ts > num(redis.call('HGET', ck, 'lastReadAt')) then redis.call('HINCRBY', ck, 'unread', 1) end
  local saved = ''
  if present(ARGV[15]) then
    local id = rememberContact(ARGV[15], ARGV[16], '', ARGV[10], ARGV[17], ARGV[18])
    local rec = cjson.decode(redis.call('HGET', BASE .. 'contacts', id))
    if type(rec.savedName) == 'string' then saved = rec.savedName end
  end
  -- A new DM chat is named after the saved contact, else the push name.
  if chatType == 'dm' and not present(redis.call('HGET', ck, 'name')) then
    if present(saved) then redis.call('HSET', ck, 'name', saved)
    elseif present(ARGV[10]) then redis.call('HSET', ck, 'name', ARGV[10]) end
  end
end
if ts >= num(redis.call('HGET', ck, 'lmTs')) then
  -- The key in parts (lmJid as received, lmPart), each value short enough to keep the hash a listpack.
  -- (A chat written before that may still hold the key as JSON in lmKey: lmJid wins when both exist.)
  redis.call('HSET', ck, 'lmId', ARGV[13], 'lmFromMe', fromMe and 1 or 0, 'lmPreview', ARGV[8], 'lmTs', ts,
    'lmJid', ARGV[2], 'lmPart', ARGV[9])
end
maxField(ck, 'lastActivity', ts)
settle(c, beforeOwner, beforeUn)
return reply(c, created == 1 and 2 or 0)
