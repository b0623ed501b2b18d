import type { ChatType } from '../domain/jid.js'
import type { ChatTransition } from '../inbox/chat.js'

/**
 * An in-memory model of one session's chats with the same transitions as the Lua scripts in
 * src/inbox/lua (apply-message, clear-unanswered, set-owner, mark-read, set-marked-unread), for the
 * rules dry-run. Pure: no I/O, no clock; every instant comes in as an argument.
 *
 * Kept in step with the scripts by test/dryrun/chat-model.test.ts, which runs random event sequences
 * through both. Not modelled: LID <-> phone merges (a scenario names each chat by one jid) and the
 * contact book.
 */

/** Recent message ids remembered per chat for de-duplication (SEEN_KEEP in _lib.lua). */
const SEEN_KEEP = 1000

export interface ModelLastMessage {
  id: string
  fromMe: boolean
  preview: string
  timestamp: number
}

/** A chat as the model keeps it; the fields mirror the chat hash (see src/inbox/chat.ts). */
export interface ModelChat {
  jid: string
  type: ChatType
  name: string | null
  owner: string | null
  unreadCount: number
  markedUnread: boolean
  unanswered: number
  waitingSince: number | null
  waitSeq: number
  /** 0 = never (the Lua scripts store 0 too). */
  lastInboundAt: number
  lastOutboundAt: number
  lastReadAt: number
  lastAnswerAt: number
  lastActivity: number
  lastMessage: ModelLastMessage | null
  createdAt: number
}

interface ChatRecord extends ModelChat {
  /** The waiting set: message id -> timestamp (the `wait:` zset). */
  waiting: Map<string, number>
  /** Recently seen messages: `i/<id>` or `o/<id>` -> timestamp (the `msgs:` zset). */
  seen: Map<string, number>
}

export interface ModelMessage {
  jid: string
  type: ChatType
  id: string
  fromMe: boolean
  timestamp: number
  /** Outbound only: whether it answers the chat (see countsAsAnswer in src/inbox/ingest.ts). */
  countsAsAnswer?: boolean
  preview?: string
  pushName?: string
  /** The session's default owner for a chat this message creates. */
  defaultOwner: string | null
  now: number
}

export interface OwnerTotals {
  messages: number
  chats: number
}

/** Sorted-set order: by score, then by member (bytewise, as Redis compares). */
function byScore(a: [string, number], b: [string, number]): number {
  return a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
}

export class ChatModel {
  private readonly chats = new Map<string, ChatRecord>()
  /** Per owner (null = unassigned): unanswered messages and waiting chats, like the owner hashes. */
  private readonly totals = new Map<string | null, OwnerTotals>()

  /** A message in or out (apply-message.lua). */
  message(m: ModelMessage): ChatTransition {
    let c = this.chats.get(m.jid)
    let created = false
    if (!c) {
      c = newChat(m.jid, m.type, m.defaultOwner, m.now)
      this.chats.set(m.jid, c)
      created = true
    }
    const dedupe = `${m.fromMe ? 'o' : 'i'}/${m.id}`
    if (c.seen.has(dedupe)) return this.reply(c, { duplicate: true })
    if (c.seen.size >= SEEN_KEEP && m.timestamp < Math.min(...c.seen.values())) {
      return this.reply(c, { duplicate: true })
    }
    c.seen.set(dedupe, m.timestamp)
    if (c.seen.size > SEEN_KEEP) {
      const sorted = [...c.seen].sort(byScore)
      for (const [member] of sorted.slice(0, c.seen.size - SEEN_KEEP)) c.seen.delete(member)
    }
    const before = counted(c)
    if (m.fromMe) {
      c.lastOutboundAt = Math.max(c.lastOutboundAt, m.timestamp)
      if (m.countsAsAnswer) {
        c.lastAnswerAt = Math.max(c.lastAnswerAt, m.timestamp)
        dropUpTo(c.waiting, m.timestamp)
      }
    } else {
      c.lastInboundAt = Math.max(c.lastInboundAt, m.timestamp)
      // Only a message newer than the last answer waits for a reply (a late backlog message does not).
      if (m.timestamp > c.lastAnswerAt) c.waiting.set(m.id, m.timestamp)
      if (m.timestamp > c.lastReadAt) c.unreadCount++
      if (c.type === 'dm' && m.pushName && !c.name) c.name = m.pushName
    }
    if (m.timestamp >= (c.lastMessage?.timestamp ?? 0)) {
      c.lastMessage = { id: m.id, fromMe: m.fromMe, preview: m.preview ?? '', timestamp: m.timestamp }
    }
    c.lastActivity = Math.max(c.lastActivity, m.timestamp)
    this.settle(c, before)
    return this.reply(c, { created })
  }

  /**
   * "No reply needed" or a reset of one chat (clear-unanswered.lua): customer messages up to `at`
   * count as answered. With `owner`, only if the chat belongs to that user. Null for an unknown chat.
   */
  clearUnanswered(jid: string, at: number, opts: { owner?: string } = {}): ChatTransition | null {
    const c = this.chats.get(jid)
    if (!c) return null
    const before = counted(c)
    // Another user's chat: nothing changes, and nothing counts as cleared.
    if (opts.owner && c.owner !== opts.owner) return this.reply(c, { clearedFrom: 0 })
    c.lastAnswerAt = Math.max(c.lastAnswerAt, at)
    dropUpTo(c.waiting, at)
    this.settle(c, before)
    return this.reply(c, { clearedFrom: before.unanswered })
  }

  /** Alias of clearUnanswered for the "no reply needed" action. */
  noReplyNeeded(jid: string, at: number): ChatTransition | null {
    return this.clearUnanswered(jid, at)
  }

  /** A whole-session reset: the transitions of the chats it cleared (InboxStore.clearSession). */
  reset(at: number, opts: { owner?: string } = {}): ChatTransition[] {
    const out: ChatTransition[] = []
    for (const c of [...this.chats.values()].filter((chat) => chat.unanswered > 0)) {
      const t = this.clearUnanswered(c.jid, at, opts)
      if (t && (t.clearedFrom ?? 0) > 0) out.push(t)
    }
    return out
  }

  /** The chat's owner changed (set-owner.lua); its waiting messages move to the new owner's totals. */
  setOwner(jid: string, owner: string | null): ChatTransition | null {
    const c = this.chats.get(jid)
    if (!c) return null
    const before = counted(c)
    c.owner = owner
    this.settle(c, before)
    return this.reply(c)
  }

  /** WhatsApp's unread count went to 0 at `at` (mark-read.lua); unanswered is left alone. */
  markRead(jid: string, at: number): ChatTransition | null {
    const c = this.chats.get(jid)
    if (!c) return null
    const before = counted(c)
    c.lastReadAt = Math.max(c.lastReadAt, at)
    let unread = 0
    for (const [member, ts] of c.seen) if (member.startsWith('i/') && ts > c.lastReadAt) unread++
    c.unreadCount = unread
    c.markedUnread = false
    this.settle(c, before)
    return this.reply(c)
  }

  /** The reminder dot (set-marked-unread.lua). */
  setMarkedUnread(jid: string, flag: boolean): ChatTransition | null {
    const c = this.chats.get(jid)
    if (!c) return null
    const before = counted(c)
    c.markedUnread = flag
    this.settle(c, before)
    return this.reply(c)
  }

  getChat(jid: string): ModelChat | null {
    const c = this.chats.get(jid)
    return c ? snapshot(c) : null
  }

  /** Every chat, in the order they were created. */
  allChats(): ModelChat[] {
    return [...this.chats.values()].map(snapshot)
  }

  /** Per-owner totals (null = unassigned), like InboxStore.ownerTotals; owners at zero are absent. */
  ownerTotals(): Map<string | null, OwnerTotals> {
    return new Map([...this.totals].map(([owner, t]) => [owner, { ...t }]))
  }

  /** Unanswered messages of the given owners, like InboxStore.unansweredOf for this one session. */
  unansweredOf(owners: ReadonlyArray<string | null>): Map<string | null, number> {
    return new Map(owners.map((o) => [o, this.totals.get(o)?.messages ?? 0]))
  }

  /** Derives unanswered/waitingSince from the waiting set and keeps the owner totals in step (settle). */
  private settle(c: ChatRecord, before: { owner: string | null; unanswered: number }): void {
    const n = c.waiting.size
    if (n > 0) {
      if (c.waitingSince === null) c.waitSeq++
      c.waitingSince = [...c.waiting].sort(byScore)[0]![1]
    } else {
      c.waitingSince = null
    }
    c.unanswered = n
    if (c.owner !== before.owner || n !== before.unanswered) {
      if (before.unanswered > 0) this.bump(before.owner, -before.unanswered, -1)
      if (n > 0) this.bump(c.owner, n, 1)
    }
  }

  private bump(owner: string | null, messages: number, chats: number): void {
    const t = this.totals.get(owner) ?? { messages: 0, chats: 0 }
    t.messages += messages
    t.chats += chats
    if (t.messages === 0 && t.chats === 0) this.totals.delete(owner)
    else this.totals.set(owner, t)
  }

  private reply(
    c: ChatRecord,
    extra: { duplicate?: boolean; created?: boolean; clearedFrom?: number } = {},
  ): ChatTransition {
    return {
      jid: c.jid,
      duplicate: extra.duplicate ?? false,
      created: extra.created ?? false,
      unanswered: c.unanswered,
      waitingSince: c.waitingSince,
      waitSeq: c.waitSeq,
      unreadCount: c.unreadCount,
      markedUnread: c.markedUnread,
      owner: c.owner,
      lastOutboundAt: c.lastOutboundAt > 0 ? c.lastOutboundAt : null,
      ...(extra.clearedFrom !== undefined ? { clearedFrom: extra.clearedFrom } : {}),
    }
  }
}

function newChat(jid: string, type: ChatType, owner: string | null, now: number): ChatRecord {
  return {
    jid,
    type,
    name: null,
    owner: owner || null,
    unreadCount: 0,
    markedUnread: false,
    unanswered: 0,
    waitingSince: null,
    waitSeq: 0,
    lastInboundAt: 0,
    lastOutboundAt: 0,
    lastReadAt: 0,
    lastAnswerAt: 0,
    lastActivity: 0,
    lastMessage: null,
    createdAt: now,
    waiting: new Map(),
    seen: new Map(),
  }
}

function counted(c: ChatRecord): { owner: string | null; unanswered: number } {
  return { owner: c.owner, unanswered: c.unanswered }
}

/** ZREMRANGEBYSCORE key -inf at: drops every member with a score up to and including `at`. */
function dropUpTo(set: Map<string, number>, at: number): void {
  for (const [member, ts] of set) if (ts <= at) set.delete(member)
}

function snapshot(c: ChatRecord): ModelChat {
  const { waiting: _w, seen: _s, ...chat } = c
  return { ...chat, lastMessage: chat.lastMessage ? { ...chat.lastMessage } : null }
}
