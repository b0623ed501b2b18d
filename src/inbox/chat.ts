import type { MessageKey } from '../domain/events.js'
import type { ChatType } from '../domain/jid.js'

export interface LastMessage {
  id: string
  fromMe: boolean
  preview: string
  timestamp: number
  /** The WhatsApp key as received: what `chatModify` needs to mark the chat read or unread. */
  key: MessageKey
}

/** A chat as stored in Redis: the state every job and API call reads. */
export interface Chat {
  jid: string
  /** The other form of the same conversation (LID vs phone number), when known. */
  altJid: string | null
  type: ChatType
  name: string | null
  /** WhatsApp's own unread count as we track it. */
  unreadCount: number
  /** The chat carries the "reminder dot" (marked unread). */
  markedUnread: boolean
  /** Customer messages since the last answer. */
  unanswered: number
  /** Timestamp of the oldest unanswered customer message; null when nothing waits. */
  waitingSince: number | null
  /** Increments each time a new waiting period starts: SLA timers are tied to one period. */
  waitSeq: number
  lastInboundAt: number | null
  lastOutboundAt: number | null
  lastReadAt: number | null
  lastActivity: number
  lastMessage: LastMessage | null
  owner: string | null
  archived: boolean
  createdAt: number
}

/** What a transition script reports back: the chat's counted state right after the change. */
export interface ChatTransition {
  jid: string
  duplicate: boolean
  created: boolean
  unanswered: number
  waitingSince: number | null
  waitSeq: number
  unreadCount: number
  markedUnread: boolean
  owner: string | null
  /** When we last wrote in the chat (null: never): tells a first response from a next one. */
  lastOutboundAt: number | null
  /** clear-unanswered only: how many messages were waiting before. */
  clearedFrom?: number
}

export const UNASSIGNED = '~'

const n = (v: string | undefined): number => (v ? Number(v) : 0)
const orNull = (v: number): number | null => (v > 0 ? v : null)

export function chatFromHash(h: Record<string, string>): Chat | null {
  if (!h.jid) return null
  let lastMessage: LastMessage | null = null
  const key = lastMessageKey(h)
  if (h.lmId && key) {
    lastMessage = {
      id: h.lmId,
      fromMe: h.lmFromMe === '1',
      preview: h.lmPreview ?? '',
      timestamp: n(h.lmTs),
      key,
    }
  }
  return {
    jid: h.jid,
    altJid: h.alt || null,
    type: h.type === 'group' ? 'group' : 'dm',
    name: h.name || null,
    unreadCount: n(h.unread),
    markedUnread: h.markedUnread === '1',
    unanswered: n(h.unanswered),
    waitingSince: h.waitingSince ? Number(h.waitingSince) : null,
    waitSeq: n(h.waitSeq),
    lastInboundAt: orNull(n(h.lastInboundAt)),
    lastOutboundAt: orNull(n(h.lastOutboundAt)),
    lastReadAt: orNull(n(h.lastReadAt)),
    lastActivity: n(h.lastActivity),
    lastMessage,
    owner: !h.owner || h.owner === UNASSIGNED ? null : h.owner,
    archived: h.archived === '1',
    createdAt: n(h.createdAt),
  }
}

/**
 * The last message's WhatsApp key, from its parts: the jid as received (`lmJid`), the group sender
 * (`lmPart`), `lmFromMe` and `lmId`. Stored apart rather than as one JSON value so that every value of
 * the chat hash stays within Redis' `hash-max-listpack-value` (64 bytes) and the hash keeps its compact
 * encoding: one long value turns the whole hash into a hash table, about three times the memory.
 * Chats written before this carry the key as JSON in `lmKey`, left in place (deleting it would cost a
 * command per message, and Redis never makes such a hash compact again): the parts win once written.
 */
function lastMessageKey(h: Record<string, string>): MessageKey | null {
  if (h.lmId && h.lmJid)
    return {
      remoteJid: h.lmJid,
      fromMe: h.lmFromMe === '1',
      id: h.lmId,
      ...(h.lmPart ? { participant: h.lmPart } : {}),
    }
  return h.lmKey ? (JSON.parse(h.lmKey) as MessageKey) : null
}

export function transitionFromReply(
  reply: unknown,
  kind: 'message' | 'other' | 'clear',
): ChatTransition | null {
  if (!Array.isArray(reply)) return null
  const [jid, extra, unanswered, waitingSince, waitSeq, unread, markedUnread, owner, lastOutboundAt] =
    reply as [string, number, number, string, number, number, string, string, number]
  return {
    jid,
    duplicate: kind === 'message' && extra === 1,
    created: kind === 'message' && extra === 2,
    unanswered,
    waitingSince: waitingSince ? Number(waitingSince) : null,
    waitSeq,
    unreadCount: unread,
    markedUnread: markedUnread === '1',
    owner: owner === UNASSIGNED ? null : owner,
    lastOutboundAt: lastOutboundAt ? lastOutboundAt : null,
    ...(kind === 'clear' ? { clearedFrom: extra } : {}),
  }
}

/**
 * The longest preview, in UTF-8 bytes: Redis' `hash-max-listpack-value`, so the chat hash that holds it
 * keeps its compact encoding (see lastMessageKey). About as much as WhatsApp's own chat list shows.
 */
export const PREVIEW_MAX_BYTES = 64

/** A short, single-line preview of a message for overviews (never the whole text). */
export function previewOf(text: string | undefined, media: string | undefined): string {
  const t = (text ?? '').replace(/\s+/g, ' ').trim()
  const full = media ? (t ? `[${media}] ${t}` : `[${media}]`) : t
  if (Buffer.byteLength(full) <= PREVIEW_MAX_BYTES) return full
  // Whole code points only (never half an emoji), leaving room for the ellipsis (3 bytes).
  let out = ''
  let bytes = 0
  for (const ch of full) {
    bytes += Buffer.byteLength(ch)
    if (bytes > PREVIEW_MAX_BYTES - 3) break
    out += ch
  }
  return `${out.trimEnd()}…`
}
