import {
  areJidsSameUser,
  type BaileysEventMap,
  getContentType,
  isJidBroadcast,
  isJidNewsletter,
  isJidStatusBroadcast,
  jidNormalizedUser,
  normalizeMessageContent,
  proto,
  type WAMessage,
} from '@whiskeysockets/baileys'
import type { InboxEventInput, MessageOrigin } from '../../domain/events.js'
import { isChatJid, isGroupJid, isLid, isUserJid } from '../../domain/jid.js'

/**
 * Pure translation of Baileys events into our raw domain events (src/domain/events.ts). Nothing here
 * touches a socket, a store or the clock (the caller passes `now`), and nothing throws: input that is
 * not what Baileys documents yields no event (and, from `normaliseBatch`, a `skipped` entry the caller
 * counts). The ingestor validates every event again before it touches state.
 *
 * Decisions:
 * - `messages.upsert`: `notify` = live, `append` = backlog (offline catch-up, own sends). Conversation
 *   messages only. Skipped (with a reason): no id or no chat; `status@broadcast`, other broadcast lists,
 *   newsletters and any jid that is not a user or group chat; protocol messages (revoke, edit, history
 *   sync notifications, app-state key shares, ephemeral settings, pins/keep-in-chat); reactions; poll and
 *   event votes; stubs (`messageStubType`: group notices, missed calls, our own undecryptable messages);
 *   and messages with no content. A customer's failed decryption (`CIPHERTEXT` stub) is a message
 *   (`undecrypted`: counted, no receipt): its content may never come (the phone offline, an ad's first
 *   message), and when it comes it has the same key, so the inbox counts it once. Missed calls are not
 *   counted as unanswered messages.
 * - `chats.update`: in a live socket `unreadCount` is a delta. `0` = read on a device (`chat.read` at
 *   `now`), `-1` = marked unread (`chat.markedUnread`). Positive deltas are ignored: Baileys emits `+1`
 *   for every counted incoming message, and the `message` event of that same message already raises our
 *   unread count (de-duplicated by key, ordered by timestamp against reads), so counting the delta too
 *   would count each message twice. `null` (initial-sync neutral) is ignored. `archived` and `name` give
 *   `chat.meta`.
 * - `lid-mapping.update` `{ lid, pn }` gives `lid.mapping` (device parts stripped; swapped forms fixed).
 * - `contacts.upsert`/`contacts.update` give `contact`: `id` is the LID or the phone-number jid, the other
 *   form comes from `lid`/`phoneNumber`; the saved `name`, the `verifiedName` of a business and the push
 *   name (`notify`) go apart (the last two come with every message and never replace a saved name).
 *   Group and other non-user ids are skipped.
 * - `messaging-history.set` (history sync, kept on because LID mappings come from it): its
 *   `lidPnMappings`, `contacts` and its chats' state (group names) are used; its messages are not (they
 *   are history, not pending work: counting them would mark months-old conversations unanswered).
 * - `groups.upsert` / `groups.update`: a group's `subject` names its chat (`chat.meta`).
 * - Reads on our other devices (phone, WhatsApp Web) arrive as receipts: `messages.update` status READ of
 *   a customer message (1:1), `message-receipt.update` by our own user (groups), or folded into a
 *   buffered `messages.upsert` (status READ in 1:1 chats, our own entry in `userReceipt[]` in groups):
 *   each gives `chat.read` at the receipt's time. Other
 *   `messages.update`s (edits, revokes, delivery/read of our messages, stars, poll votes) yield nothing:
 *   revoking a customer message that is still unanswered therefore keeps it counted.
 * - Baileys' buffer sums the `unreadCount` of buffered `chats.update`s, hiding a read followed by a
 *   message; the adapter therefore passes the signals as Baileys emitted them (`chatSignals`).
 */

export type RawInboxEvent = InboxEventInput
export type RawMessageEvent = Extract<InboxEventInput, { type: 'message' }>

export interface NormaliseContext {
  sessionId: string
  /** Wall-clock ms: the instant of `chat.read`/`chat.markedUnread`, and a message's fallback timestamp. */
  now: number
  /**
   * The account's own jids (`creds.me.id`, `creds.me.lid`). For a message we sent, Baileys fills
   * `remoteJidAlt` from the stanza's sender (that is us), so an alt that is our own number must not be
   * taken for the chat's other form. Without this list, a fromMe message's alts are dropped.
   */
  self?: ReadonlyArray<string | null | undefined>
  /** Who wrote a fromMe message (bot, CRM, our API); `phone` when this returns undefined or is absent. */
  fromMeOrigin?: (msg: WAMessage) => MessageOrigin | undefined
  /**
   * The read/unread signals of a chat as Baileys emitted them, before its event buffer merged them
   * (`concatChats` sums `unreadCount`, so a read followed by a message arrives as +1). When given, it
   * replaces the merged `unreadCount` of that chat's `chats.update` (see the adapter's emit tap).
   */
  chatSignals?: (chatJid: string) => RawInboxEvent[] | undefined
}

export type SkipReason =
  | 'malformed'
  | 'no-id'
  | 'no-chat'
  | 'status'
  | 'broadcast'
  | 'newsletter'
  | 'unsupported-jid'
  | 'protocol'
  | 'reaction'
  | 'vote'
  | 'stub'
  | 'no-content'

export type MessageOutcome = { ok: true; event: RawMessageEvent } | { ok: false; reason: SkipReason }

export interface Skipped {
  event: string
  reason: SkipReason | 'unknown-type' | 'ignored'
  id?: string
}

const MAX_TEXT = 65_536
const MAX_NAME = 256
const MIN_MS = 1_230_768_000_000
const MAX_MS = 4_102_444_800_000

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined)
const clip = (s: string | undefined, max: number): string | undefined =>
  s === undefined ? undefined : s.length > max ? s.slice(0, max) : s

/** `jidNormalizedUser` that never throws and returns undefined for anything that is not a jid. */
function normalised(jid: unknown): string | undefined {
  const s = str(jid)
  if (!s) return undefined
  try {
    return str(jidNormalizedUser(s))
  } catch {
    return undefined
  }
}

/**
 * Seconds since the epoch as protobuf gives them (number, Long, numeric string, bigint) to milliseconds;
 * undefined when absent or outside 2009-2100.
 */
export function timestampMs(ts: unknown): number | undefined {
  let seconds: number | undefined
  if (typeof ts === 'number') seconds = ts
  else if (typeof ts === 'bigint') seconds = Number(ts)
  else if (typeof ts === 'string' && /^\d+$/.test(ts)) seconds = Number(ts)
  else if (isObject(ts)) {
    if (typeof ts.toNumber === 'function') {
      try {
        seconds = Number((ts.toNumber as () => unknown).call(ts))
      } catch {
        seconds = undefined
      }
    } else if (typeof ts.low === 'number' && typeof ts.high === 'number') {
      seconds = (ts.low >>> 0) + ts.high * 2 ** 32
    }
  }
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0) return undefined
  const ms = Math.floor(seconds * 1000)
  return ms >= MIN_MS && ms <= MAX_MS ? ms : undefined
}

const SKIPPED_CONTENT: Partial<Record<keyof proto.IMessage, SkipReason>> = {
  protocolMessage: 'protocol',
  keepInChatMessage: 'protocol',
  pinInChatMessage: 'protocol',
  reactionMessage: 'reaction',
  encReactionMessage: 'reaction',
  pollUpdateMessage: 'vote',
  encEventResponseMessage: 'vote',
}

type MediaKind = NonNullable<RawMessageEvent['media']>

const MEDIA: Partial<Record<keyof proto.IMessage, MediaKind>> = {
  imageMessage: 'image',
  videoMessage: 'video',
  ptvMessage: 'video',
  audioMessage: 'audio',
  documentMessage: 'document',
  stickerMessage: 'sticker',
  lottieStickerMessage: 'sticker',
}

/** Text and media kind of a (normalised) message content. Unknown content types count as `other`. */
function describeContent(
  content: proto.IMessage,
  type: keyof proto.IMessage,
): { text?: string; media?: MediaKind } {
  const text = textOf(content)
  const media =
    MEDIA[type] ?? (type === 'conversation' || type === 'extendedTextMessage' ? undefined : 'other')
  return {
    ...(text !== undefined ? { text: clip(text, MAX_TEXT) } : {}),
    ...(media ? { media } : {}),
  }
}

function textOf(c: proto.IMessage): string | undefined {
  return (
    str(c.conversation) ??
    str(c.extendedTextMessage?.text) ??
    str(c.imageMessage?.caption) ??
    str(c.videoMessage?.caption) ??
    str(c.documentMessage?.caption) ??
    str(c.buttonsResponseMessage?.selectedDisplayText) ??
    str(c.templateButtonReplyMessage?.selectedDisplayText) ??
    str(c.listResponseMessage?.title) ??
    str(c.interactiveResponseMessage?.body?.text) ??
    str(c.pollCreationMessage?.name) ??
    str(c.pollCreationMessageV2?.name) ??
    str(c.pollCreationMessageV3?.name) ??
    str(c.contactMessage?.displayName) ??
    str(c.locationMessage?.name) ??
    undefined
  )
}

function isSelf(jid: string, self: NormaliseContext['self']): boolean {
  for (const me of self ?? []) {
    if (me && areJidsSameUser(jid, me)) return true
  }
  return false
}

/**
 * The alt form of a jid, when it is usable: a user jid (device part stripped), not the primary itself,
 * and, on a fromMe message, known not to be our own.
 */
function altOf(
  raw: unknown,
  primary: string | undefined,
  fromMe: boolean,
  ctx: NormaliseContext,
): string | undefined {
  const alt = normalised(raw)
  if (!alt || !isUserJid(alt)) return undefined
  if (primary && areJidsSameUser(alt, primary)) return undefined
  if (isSelf(alt, ctx.self)) return undefined
  if (fromMe && !(ctx.self ?? []).some(Boolean)) return undefined
  return alt
}

/** One WAMessage of a `messages.upsert` to a `message` event, or why it is not one. */
export function normaliseMessage(ctx: NormaliseContext, msg: unknown, upsertType: unknown): MessageOutcome {
  if (upsertType !== 'notify' && upsertType !== 'append') return { ok: false, reason: 'malformed' }
  if (!isObject(msg) || !isObject(msg.key)) return { ok: false, reason: 'malformed' }
  const key = msg.key
  const id = str(key.id)
  if (!id) return { ok: false, reason: 'no-id' }
  const remoteJid = str(key.remoteJid)
  if (!remoteJid) return { ok: false, reason: 'no-chat' }
  if (isJidStatusBroadcast(remoteJid)) return { ok: false, reason: 'status' }
  if (isJidBroadcast(remoteJid)) return { ok: false, reason: 'broadcast' }
  if (isJidNewsletter(remoteJid)) return { ok: false, reason: 'newsletter' }
  if (!isChatJid(remoteJid)) return { ok: false, reason: 'unsupported-jid' }
  if (msg.messageStubType !== undefined && msg.messageStubType !== null && msg.messageStubType !== 0) {
    if (msg.messageStubType === proto.WebMessageInfo.StubType.CIPHERTEXT && key.fromMe !== true) {
      return placeholder(ctx, msg, key, id, remoteJid, upsertType)
    }
    return { ok: false, reason: 'stub' }
  }

  let content: proto.IMessage | undefined
  let contentType: keyof proto.IMessage | undefined
  try {
    content = isObject(msg.message) ? normalizeMessageContent(msg.message as proto.IMessage) : undefined
    contentType = getContentType(content)
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (!content || !contentType) return { ok: false, reason: 'no-content' }
  const skip = SKIPPED_CONTENT[contentType]
  if (skip) return { ok: false, reason: skip }

  const fromMe = key.fromMe === true
  const group = isGroupJid(remoteJid)
  const participant = str(key.participant)
  const chatJidAlt = group ? undefined : altOf(key.remoteJidAlt, remoteJid, fromMe, ctx)
  const participantAlt = participant ? altOf(key.participantAlt, participant, fromMe, ctx) : undefined
  const origin: MessageOrigin = fromMe
    ? (ctx.fromMeOrigin?.(msg as unknown as WAMessage) ?? 'phone')
    : 'customer'
  const pushName = clip(str(msg.pushName), MAX_NAME)

  const event: RawMessageEvent = {
    type: 'message',
    sessionId: ctx.sessionId,
    key: { remoteJid, fromMe, id, ...(participant ? { participant } : {}) },
    ...(chatJidAlt ? { chatJidAlt } : {}),
    ...(participantAlt ? { participantAlt } : {}),
    timestamp: timestampMs(msg.messageTimestamp) ?? ctx.now,
    ...describeContent(content, contentType),
    ...(pushName ? { pushName } : {}),
    origin,
    delivery: upsertType === 'notify' ? 'live' : 'backlog',
  }
  return { ok: true, event }
}

/**
 * A customer message that did not decrypt: Baileys' CIPHERTEXT placeholder (Socket/messages-recv
 * `handleMessage`: `decryptMessageNode` sets `messageStubType` CIPHERTEXT and `messageStubParameters`
 * [the decryption error] or ['Message absent from node'] (Utils/decode-wa-message), Baileys asks the
 * sender for a retry or the phone for a placeholder resend, and upserts the stub with the message's key).
 * The content, if it ever comes, arrives as another `messages.upsert` with the same key: the sender's
 * retry through `handleMessage` again, or the phone's answer (Utils/process-message,
 * PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE -> `messages.upsert` 'notify' with the cached key). The
 * inbox counts the key once. Our own undecryptable messages (`fromMe`, including peer protocol messages)
 * stay skipped: nothing says they were a reply.
 */
function placeholder(
  ctx: NormaliseContext,
  msg: Record<string, unknown>,
  key: Record<string, unknown>,
  id: string,
  remoteJid: string,
  upsertType: 'notify' | 'append',
): MessageOutcome {
  const participant = str(key.participant)
  if (isGroupJid(remoteJid) && !participant) return { ok: false, reason: 'malformed' }
  const chatJidAlt = isGroupJid(remoteJid) ? undefined : altOf(key.remoteJidAlt, remoteJid, false, ctx)
  const participantAlt = participant ? altOf(key.participantAlt, participant, false, ctx) : undefined
  const pushName = clip(str(msg.pushName), MAX_NAME)
  return {
    ok: true,
    event: {
      type: 'message',
      sessionId: ctx.sessionId,
      key: { remoteJid, fromMe: false, id, ...(participant ? { participant } : {}) },
      ...(chatJidAlt ? { chatJidAlt } : {}),
      ...(participantAlt ? { participantAlt } : {}),
      timestamp: timestampMs(msg.messageTimestamp) ?? ctx.now,
      ...(pushName ? { pushName } : {}),
      origin: 'customer',
      delivery: upsertType === 'notify' ? 'live' : 'backlog',
      undecrypted: true,
    },
  }
}

/** `messages.upsert` to `message` events (skipped messages are left out; see `normaliseBatch`). */
export function fromMessagesUpsert(ctx: NormaliseContext, payload: unknown): RawInboxEvent[] {
  return messagesUpsert(ctx, payload).events
}

function messagesUpsert(
  ctx: NormaliseContext,
  payload: unknown,
): { events: RawInboxEvent[]; skipped: Skipped[] } {
  const events: RawInboxEvent[] = []
  const skipped: Skipped[] = []
  if (!isObject(payload) || !Array.isArray(payload.messages)) {
    return { events, skipped: [{ event: 'messages.upsert', reason: 'malformed' }] }
  }
  for (const msg of payload.messages) {
    const out = normaliseMessage(ctx, msg, payload.type)
    if (out.ok) events.push(out.event)
    else {
      const id = isObject(msg) && isObject(msg.key) ? str(msg.key.id) : undefined
      skipped.push({ event: 'messages.upsert', reason: out.reason, ...(id ? { id } : {}) })
    }
  }
  return { events, skipped }
}

/** `chats.update` to `chat.read` (0), `chat.markedUnread` (-1) and `chat.meta` (archived, name). */
export function fromChatsUpdate(ctx: NormaliseContext, updates: unknown): RawInboxEvent[] {
  if (!Array.isArray(updates)) return []
  const out: RawInboxEvent[] = []
  for (const u of updates) {
    if (!isObject(u)) continue
    const chatJid = str(u.id)
    if (!chatJid || !isChatJid(chatJid)) continue
    const base = { sessionId: ctx.sessionId, chatJid }
    const signals = ctx.chatSignals?.(chatJid)
    if (signals) out.push(...signals)
    else if (u.unreadCount === 0) out.push({ ...base, type: 'chat.read', at: ctx.now })
    else if (u.unreadCount === -1) out.push({ ...base, type: 'chat.markedUnread', at: ctx.now })
    const name = clip(str(u.name), MAX_NAME)
    const archived = typeof u.archived === 'boolean' ? u.archived : undefined
    if (name !== undefined || archived !== undefined) {
      out.push({
        ...base,
        type: 'chat.meta',
        ...(name !== undefined ? { name } : {}),
        ...(archived !== undefined ? { archived } : {}),
      })
    }
  }
  return out
}

/** One `{ lid, pn }` pair to a `lid.mapping` event (forms swapped back if given the wrong way round). */
function lidMapping(ctx: NormaliseContext, pair: unknown): RawInboxEvent | undefined {
  if (!isObject(pair)) return undefined
  let lid = normalised(pair.lid)
  let pn = normalised(pair.pn)
  if (!lid || !pn) return undefined
  if (isLid(pn) && !isLid(lid)) [lid, pn] = [pn, lid]
  if (!isLid(lid) || !pn.endsWith('@s.whatsapp.net') || !isUserJid(lid) || !isUserJid(pn)) return undefined
  return { type: 'lid.mapping', sessionId: ctx.sessionId, lid, pn }
}

/** `lid-mapping.update` (one `{ lid, pn }`; an array of them is accepted too). */
export function fromLidMapping(ctx: NormaliseContext, payload: unknown): RawInboxEvent[] {
  const pairs = Array.isArray(payload) ? payload : [payload]
  return pairs.map((p) => lidMapping(ctx, p)).filter((e): e is RawInboxEvent => e !== undefined)
}

function contact(ctx: NormaliseContext, c: unknown): RawInboxEvent | undefined {
  if (!isObject(c)) return undefined
  const id = normalised(c.id)
  if (!id || !isUserJid(id)) return undefined
  const other = isLid(id) ? normalised(c.phoneNumber) : normalised(c.lid)
  const jidAlt = other && isUserJid(other) && isLid(other) !== isLid(id) ? other : undefined
  // The saved (address book) name, the verified business name and the push name (`notify`) apart: the
  // verified and push names arrive with every message of their sender (Socket/chats `upsertMessage`:
  // contacts.update { notify, verifiedName }) and must never overwrite the name the user saved.
  const name = clip(str(c.name), MAX_NAME)
  const verifiedName = clip(str(c.verifiedName), MAX_NAME)
  const pushName = clip(str(c.notify), MAX_NAME)
  return {
    type: 'contact',
    sessionId: ctx.sessionId,
    jid: id,
    ...(jidAlt ? { jidAlt } : {}),
    ...(name ? { name } : {}),
    ...(verifiedName ? { verifiedName } : {}),
    ...(pushName ? { pushName } : {}),
  }
}

/** `contacts.upsert` / `contacts.update` to `contact` events. */
export function fromContacts(ctx: NormaliseContext, contacts: unknown): RawInboxEvent[] {
  if (!Array.isArray(contacts)) return []
  return contacts.map((c) => contact(ctx, c)).filter((e): e is RawInboxEvent => e !== undefined)
}

/**
 * `messaging-history.set`: its LID mappings, contacts and the names of its group chats (Utils/history
 * `processHistoryMessage`: each conversation's `name` is the group's subject). Its messages are history,
 * not pending work.
 */
export function fromHistorySet(ctx: NormaliseContext, payload: unknown): RawInboxEvent[] {
  if (!isObject(payload)) return []
  const mappings = Array.isArray(payload.lidPnMappings) ? fromLidMapping(ctx, payload.lidPnMappings) : []
  return [...mappings, ...fromContacts(ctx, payload.contacts), ...historyChats(ctx, payload.chats)]
}

/**
 * History chats' state, once, as `chat.meta` with `fromHistory` (no empty chat is created for them): a
 * group's name, whether the chat is archived, and the phone's "marked unread" flag. During the initial
 * sync Baileys folds the app-state changes of these chats (archive, mark unread) into them (Utils/chat-utils
 * `processSyncAction` emits them `conditional`; Utils/event-buffer absorbs them into the history chat).
 */
function historyChats(ctx: NormaliseContext, chats: unknown): RawInboxEvent[] {
  if (!Array.isArray(chats)) return []
  const out: RawInboxEvent[] = []
  for (const c of chats) {
    if (!isObject(c)) continue
    const chatJid = str(c.id)
    if (!chatJid || !isChatJid(chatJid)) continue
    const name = isGroupJid(chatJid) ? clip(str(c.name), MAX_NAME) : undefined
    const archived = typeof c.archived === 'boolean' ? c.archived : undefined
    const markedUnread = c.markedAsUnread === true || c.unreadCount === -1 ? true : undefined
    if (name === undefined && archived === undefined && markedUnread === undefined) continue
    out.push({
      type: 'chat.meta',
      sessionId: ctx.sessionId,
      chatJid,
      ...(name !== undefined ? { name } : {}),
      ...(archived !== undefined ? { archived } : {}),
      ...(markedUnread ? { markedUnread } : {}),
      fromHistory: true,
    })
  }
  return out
}

/**
 * `groups.upsert` (we joined or were added: Socket/messages-recv, full `GroupMetadata`) and
 * `groups.update` (Socket/groups `groupFetchAllParticipating`, Utils/process-message on a subject
 * change): a group's `subject` names its chat.
 */
export function fromGroups(ctx: NormaliseContext, groups: unknown): RawInboxEvent[] {
  if (!Array.isArray(groups)) return []
  const out: RawInboxEvent[] = []
  for (const g of groups) {
    if (!isObject(g)) continue
    const chatJid = str(g.id)
    const name = clip(str(g.subject), MAX_NAME)
    if (chatJid && isGroupJid(chatJid) && name) {
      out.push({ type: 'chat.meta', sessionId: ctx.sessionId, chatJid, name })
    }
  }
  return out
}

const READ = 4 // proto.WebMessageInfo.Status.READ (PLAYED = 5 counts as read too)

/** The latest read instant per chat, as one `chat.read` each (a read covers everything before it). */
function readsByChat(ctx: NormaliseContext, reads: Array<{ chatJid: string; at: number }>): RawInboxEvent[] {
  const latest = new Map<string, number>()
  for (const r of reads) latest.set(r.chatJid, Math.max(latest.get(r.chatJid) ?? 0, r.at))
  return [...latest].map(([chatJid, at]) => ({ type: 'chat.read', sessionId: ctx.sessionId, chatJid, at }))
}

/**
 * `messages.update`: a customer message (not fromMe) whose status became READ was read on one of our
 * own devices (Socket/messages-recv `handleReceipt`: a receipt from our own account in a 1:1 chat, with
 * the receipt's time as `messageTimestamp`): the chat is read up to then. Other updates (edits, revokes,
 * delivery/read of OUR messages by the customer, stars) change nothing of ours.
 */
export function fromMessagesUpdate(ctx: NormaliseContext, updates: unknown): RawInboxEvent[] {
  if (!Array.isArray(updates)) return []
  const reads: Array<{ chatJid: string; at: number }> = []
  for (const u of updates) {
    if (!isObject(u) || !isObject(u.key) || !isObject(u.update)) continue
    const chatJid = str(u.key.remoteJid)
    const status = u.update.status
    if (!chatJid || !isChatJid(chatJid) || isGroupJid(chatJid) || u.key.fromMe === true) continue
    if (typeof status !== 'number' || status < READ) continue
    reads.push({ chatJid, at: timestampMs(u.update.messageTimestamp) ?? ctx.now })
  }
  return readsByChat(ctx, reads)
}

/**
 * `message-receipt.update`: in groups, a receipt whose `userJid` is our own account with a
 * `readTimestamp` means one of our devices read the chat (Socket/messages-recv `handleReceipt`). Receipts
 * of other members (they read our message) change nothing of ours.
 */
export function fromMessageReceipts(ctx: NormaliseContext, receipts: unknown): RawInboxEvent[] {
  if (!Array.isArray(receipts)) return []
  const reads: Array<{ chatJid: string; at: number }> = []
  for (const r of receipts) {
    if (!isObject(r) || !isObject(r.key) || !isObject(r.receipt)) continue
    const chatJid = str(r.key.remoteJid)
    const user = str(r.receipt.userJid)
    if (!chatJid || !isChatJid(chatJid) || !user || !isSelf(user, ctx.self)) continue
    const at = timestampMs(r.receipt.readTimestamp)
    if (at !== undefined) reads.push({ chatJid, at })
  }
  return readsByChat(ctx, reads)
}

/**
 * Reads folded into the buffered customer messages of a `messages.upsert`: Baileys' event buffer never
 * emits a receipt for a message still in the buffer, it folds it into that message (Utils/event-buffer
 * `append`):
 * - 1:1: a `messages.update` status READ is assigned onto the message (`status`, and `messageTimestamp`
 *   set to the receipt's time);
 * - groups: a `message-receipt.update` goes into the message's `userReceipt[]` (Utils/messages
 *   `updateMessageWithReceipt`, one entry per `userJid`); ours (`userJid` our own account, from
 *   Socket/messages-recv `handleReceipt`) with a `readTimestamp` means one of our devices read it.
 * Either way the chat is read up to then.
 */
function readsInUpsert(ctx: NormaliseContext, payload: unknown): RawInboxEvent[] {
  if (!isObject(payload) || !Array.isArray(payload.messages)) return []
  const reads: Array<{ chatJid: string; at: number }> = []
  for (const m of payload.messages) {
    if (!isObject(m) || !isObject(m.key) || m.key.fromMe === true) continue
    const chatJid = str(m.key.remoteJid)
    if (!chatJid || !isChatJid(chatJid)) continue
    if (typeof m.status === 'number' && m.status >= READ) {
      reads.push({ chatJid, at: timestampMs(m.messageTimestamp) ?? ctx.now })
    }
    if (!Array.isArray(m.userReceipt)) continue
    for (const r of m.userReceipt) {
      if (!isObject(r)) continue
      const user = str(r.userJid)
      const at = timestampMs(r.readTimestamp) ?? timestampMs(r.playedTimestamp)
      if (user && at !== undefined && isSelf(user, ctx.self)) reads.push({ chatJid, at })
    }
  }
  return readsByChat(ctx, reads)
}

/** Events we read, in the order their results are delivered within one batch. */
const HANDLED = [
  'lid-mapping.update',
  'messaging-history.set',
  'contacts.upsert',
  'contacts.update',
  'messages.upsert',
  'chats.update',
  'messages.update',
  'message-receipt.update',
  'groups.upsert',
  'groups.update',
] as const satisfies ReadonlyArray<keyof BaileysEventMap>

/** Events that matter to the transport but not to the inbox, or that we deliberately do not read. */
const NOT_INBOX = new Set<string>([
  'connection.update',
  'creds.update',
  'messaging-history.status',
  'chats.upsert',
  'chats.delete',
  'chats.lock',
  'presence.update',
  'messages.delete',
  'messages.media-update',
  'messages.reaction',
  'group-participants.update',
  'group.join-request',
  'group.member-tag.update',
  'blocklist.set',
  'blocklist.update',
  'call',
  'labels.edit',
  'labels.association',
  'newsletter.reaction',
  'newsletter.view',
  'newsletter-participants.update',
  'newsletter-settings.update',
  'message-capping.update',
  'settings.update',
])

export interface BatchResult {
  events: RawInboxEvent[]
  /** What produced no event and why (for metrics and debug logs); ignored event kinds are not listed. */
  skipped: Skipped[]
}

/**
 * One `ev.process` batch to domain events. Order: mappings and contacts first (so a message can be joined
 * to its chat's other form), then messages, then chat state (read / marked unread / meta of chats the
 * messages may have just created).
 */
export function normaliseBatch(ctx: NormaliseContext, batch: unknown): BatchResult {
  const events: RawInboxEvent[] = []
  const skipped: Skipped[] = []
  if (!isObject(batch)) return { events, skipped: [{ event: '?', reason: 'malformed' }] }
  const present = batch as Partial<Record<keyof BaileysEventMap, unknown>>
  for (const name of HANDLED) {
    if (!(name in present)) continue
    const data = present[name]
    try {
      switch (name) {
        case 'lid-mapping.update': {
          const out = fromLidMapping(ctx, data)
          if (!out.length) skipped.push({ event: name, reason: 'malformed' })
          events.push(...out)
          break
        }
        case 'messaging-history.set':
          events.push(...fromHistorySet(ctx, data))
          break
        case 'contacts.upsert':
        case 'contacts.update':
          if (!Array.isArray(data)) skipped.push({ event: name, reason: 'malformed' })
          events.push(...fromContacts(ctx, data))
          break
        case 'messages.upsert': {
          const out = messagesUpsert(ctx, data)
          events.push(...out.events, ...readsInUpsert(ctx, data))
          skipped.push(...out.skipped)
          break
        }
        case 'chats.update':
          if (!Array.isArray(data)) skipped.push({ event: name, reason: 'malformed' })
          events.push(...fromChatsUpdate(ctx, data))
          break
        case 'messages.update':
          events.push(...fromMessagesUpdate(ctx, data))
          break
        case 'message-receipt.update':
          events.push(...fromMessageReceipts(ctx, data))
          break
        case 'groups.upsert':
        case 'groups.update':
          events.push(...fromGroups(ctx, data))
          break
      }
    } catch {
      skipped.push({ event: name, reason: 'malformed' })
    }
  }
  // A chats.update folded into a chats.upsert of the same window (Utils/event-buffer) still carries its
  // chat's read/unread signals.
  if (ctx.chatSignals && Array.isArray(present['chats.upsert'])) {
    for (const c of present['chats.upsert']) {
      const id = isObject(c) ? str(c.id) : undefined
      if (id && isChatJid(id)) events.push(...(ctx.chatSignals(id) ?? []))
    }
  }
  for (const name of Object.keys(batch)) {
    if (!(HANDLED as readonly string[]).includes(name) && !NOT_INBOX.has(name)) {
      skipped.push({ event: name, reason: 'unknown-type' })
    }
  }
  return { events, skipped }
}
