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
  if (h.lmId && h.lmKey) {
    lastMessage = {
      id: h.lmId,
      fromMe: h.lmFromMe === '1',
      preview: h.lmPreview ?? '',
      timestamp: n(h.lmTs),
      key: JSON.parse(h.lmKey) as MessageKey,
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

/** A short, single-line preview of a message for overviews (never the whole text). */
export function previewOf(text: string | undefined, media: string | undefined, max = 80): string {
  const t = (text ?? '').replace(/\s+/g, ' ').trim()
  const body = t.length > max ? `${t.slice(0, max - 1)}…` : t
  if (media) return body ? `[${media}] ${body}` : `[${media}]`
  return body
}
