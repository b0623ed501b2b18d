-- One page of the chats overview, read-only: a keyset walk of an index (score desc, then member desc)
-- that holds no state between pages. ARGV: 2 index 'all'|'unread'|'unanswered', 3 limit,
-- 4 '1' with a cursor, then the cursor: 5 score, 6 member (the last chat walked), 7 marker (the last
-- `moves` entry when that page was read), 8 that page's Redis time in ms; 9 most moves read per page.
--
-- Why it still returns every chat exactly once while chats change: a chat's position only rises
-- (lastActivity never falls). After every page, the chats above the cursor are exactly the ones returned
-- so far. A chat can only break that by rising from below the cursor to above it between two pages;
-- the `moves` stream (written by settle() in _lib.lua) holds each rise with the score it rose from, so
-- this page returns those chats ("crossers") first, then walks on below the cursor.
--
-- Returns { 'ok', nextScore or '', nextMember or '', marker, nowMs, jid... } or { 'expired' | 'busy' }.
local idx = ({ all = K_CHATS, unread = K_UNREAD, unanswered = K_UNANS })[ARGV[2]]
local limit = tonumber(ARGV[3])
local hasCursor = ARGV[4] == '1'
local cScoreText, cMember = ARGV[5], ARGV[6]
local cScore = tonumber(cScoreText)
local K_MOVES = BASE .. 'moves'
local now = nowMs()

-- Byte order, as Redis orders equal scores (Lua's `<` on strings follows the locale).
local function bytesLess(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Position (s1, m1) comes after (s2, m2) in the overview's order (is below it).
local function below(s1, m1, s2, m2)
  if s1 ~= s2 then return s1 < s2 end
  return bytesLess(m1, m2)
end

local crossers = {}
if hasCursor then
  if now - tonumber(ARGV[8]) > MOVES_KEEP_MS then return { 'expired' } end
  local maxMoves = tonumber(ARGV[9])
  local moves = redis.call('XRANGE', K_MOVES, '(' .. ARGV[7], '+', 'COUNT', maxMoves + 1)
  if #moves > maxMoves then return { 'busy' } end
  -- A chat's first rise since that page gives its position then; later rises only lift it further.
  local from, order = {}, {}
  for _, entry in ipairs(moves) do
    local f = entry[2]
    local jid, score = f[2], tonumber(f[4])
    if from[jid] == nil then
      from[jid] = score
      order[#order + 1] = jid
    end
  end
  for _, jid in ipairs(order) do
    local cur = redis.call('ZSCORE', idx, jid)
    if cur then
      cur = tonumber(cur)
      if below(from[jid], jid, cScore, cMember) and below(cScore, cMember, cur, jid) then
        crossers[#crossers + 1] = { cur, jid }
      end
    end
  end
  table.sort(crossers, function(a, b) return below(b[1], b[2], a[1], a[2]) end)
end

-- Rank (in the descending order) of the first chat below the cursor: the chats with a higher score,
-- plus, among those with the cursor's score (members descending), the ones at or above its member.
local start = 0
if hasCursor then
  start = redis.call('ZCOUNT', idx, '(' .. cScoreText, '+inf')
  local lo, hi = 0, redis.call('ZCOUNT', idx, cScoreText, cScoreText)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZREVRANGE', idx, start + mid, start + mid)[1]
    if bytesLess(m, cMember) then hi = mid else lo = mid + 1 end
  end
  start = start + lo
end

local want = math.max(limit - #crossers, 0)
local rows = redis.call('ZREVRANGE', idx, start, start + want, 'WITHSCORES')
local out = { 'ok', '', '', '0-0', now }
for _, c in ipairs(crossers) do out[#out + 1] = c[2] end
local walked = math.min(want, #rows / 2)
for i = 1, walked do out[#out + 1] = rows[2 * i - 1] end
if #rows / 2 > want then
  if walked > 0 then
    out[2], out[3] = rows[2 * walked], rows[2 * walked - 1]
  else
    out[2], out[3] = cScoreText, cMember
  end
end
local last = redis.call('XREVRANGE', K_MOVES, '+', '-', 'COUNT', 1)[1]
if last then out[4] = last[1] end
return out
