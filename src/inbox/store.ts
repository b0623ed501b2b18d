import type { Redis } from 'ioredis'
import type { MessageEvent } from '../domain/events.js'
import { chatTypeOf, isLid, phoneOf } from '../domain/jid.js'
import { type Fence, fenceArg, fenced } from '../fence/fence.js'
import type { Keys } from '../keys.js'
import {
  type Chat,
  type ChatTransition,
  chatFromHash,
  previewOf,
  transitionFromReply,
  UNASSIGNED,
} from './chat.js'
import { type ChatScriptName, ChatScripts } from './scripts.js'

export type OverviewFilter = 'all' | 'unread' | 'unanswered'

export interface OverviewPage {
  items: Chat[]
  /** Empty string when there is nothing more. */
  nextCursor: string
}

export interface Contact {
  jid: string
  name: string | null
  phone: string | null
  lid: string | null
  dm: boolean
  groups: string[]
}

export interface ContactQuery {
  source?: 'dm' | 'group'
  group?: string
  q?: string
  limit: number
  cursor?: string
}

export class CursorError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CursorError'
  }
}

/** Contact records one contacts request looks at, at most (a `q` that matches nothing scans no further). */
export const CONTACTS_SCANNED_PER_PAGE = 1_000

/** Chat moves one overview page reads at most (a cursor older than that many changes has expired). */
const MAX_MOVES_PER_PAGE = 10_000

/**
 * The inbox state in Redis: one hash per chat plus per-session indexes, changed only through the atomic
 * Lua transitions in ./lua. It is the source of truth every job and the API read.
 */
export class InboxStore {
  private readonly scripts: ChatScripts

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly fence?: Fence,
  ) {
    this.scripts = new ChatScripts(redis)
  }

  /**
   * The same store for a session's holder applying its WhatsApp events: each transition is refused in its
   * script (FenceRefusedError) once `fence` is no longer the session's lease epoch.
   */
  withFence(fence: Fence): InboxStore {
    return new InboxStore(this.redis, this.keys, fence)
  }

  private run(name: ChatScriptName, sid: string, args: Array<string | number>): Promise<unknown> {
    return fenced(sid, this.fence, name, () =>
      this.scripts.run(name, this.keys.chatScriptKeys(sid), [
        this.keys.session(sid),
        fenceArg(this.fence),
        ...args,
      ]),
    )
  }

  /** Applies a message in or out. Idempotent by message key: a replay reports `duplicate` and changes nothing. */
  async applyMessage(
    e: MessageEvent,
    opts: { countsAsAnswer: boolean; defaultOwner: string | null; now: number },
  ): Promise<ChatTransition> {
    const reply = await this.run('apply-message', e.sessionId, [
      e.key.remoteJid,
      e.chatJidAlt ?? '',
      chatTypeOf(e.key.remoteJid),
      `${e.key.fromMe ? 'o' : 'i'}/${e.key.id}`,
      e.key.fromMe ? '1' : '0',
      e.timestamp,
      previewOf(e.text, e.media),
      e.key.participant ?? '',
      e.pushName ?? '',
      opts.countsAsAnswer ? '1' : '0',
      opts.defaultOwner ?? '',
      e.key.id,
      opts.now,
      ...senderContactArgs(e),
    ])
    return transitionFromReply(reply, 'message')!
  }

  /**
   * WhatsApp's unread count went to 0: read up to `at`, or, given `upToIds` (our own receipt), up to the
   * newest of those inbound messages we know (nothing changes when we know none of them). Returns null
   * when the chat is unknown.
   */
  async markRead(
    sid: string,
    jid: string,
    at: number,
    upToIds: string[] = [],
  ): Promise<ChatTransition | null> {
    return transitionFromReply(
      await this.run('mark-read', sid, [jid, at, ...upToIds.map((id) => `i/${id}`)]),
      'other',
    )
  }

  async setMarkedUnread(sid: string, jid: string, flag: boolean): Promise<ChatTransition | null> {
    return transitionFromReply(await this.run('set-marked-unread', sid, [jid, flag ? '1' : '0']), 'other')
  }

  /**
   * "No reply needed" or a reset: customer messages up to `at` count as answered. With `owner`, only if
   * the chat belongs to that user at that moment (checked in the same script, so an owner change racing
   * the reset cannot clear another user's chat); otherwise nothing changes and `clearedFrom` is 0.
   */
  async clearUnanswered(
    sid: string,
    jid: string,
    at: number,
    opts: { owner?: string } = {},
  ): Promise<ChatTransition | null> {
    return transitionFromReply(await this.run('clear-unanswered', sid, [jid, at, opts.owner ?? '']), 'clear')
  }

  /**
   * Clears every waiting chat of a session (with `owner`, only the chats that user owns, each checked
   * atomically); returns the transitions of the chats that changed.
   */
  async clearSession(sid: string, at: number, opts: { owner?: string } = {}): Promise<ChatTransition[]> {
    const jids = await this.unansweredChats(sid)
    const results = await Promise.all(jids.map((jid) => this.clearUnanswered(sid, jid, at, opts)))
    return results.filter((t): t is ChatTransition => t !== null && (t.clearedFrom ?? 0) > 0)
  }

  /** The session's waiting chats (canonical jids) at this moment, from the unanswered index. */
  async unansweredChats(sid: string): Promise<string[]> {
    return this.redis.zrange(this.keys.unansweredIndex(sid), 0, -1)
  }

  async setOwner(sid: string, jid: string, owner: string | null): Promise<ChatTransition | null> {
    return transitionFromReply(await this.run('set-owner', sid, [jid, owner ?? UNASSIGNED]), 'other')
  }

  async setChatMeta(
    sid: string,
    jid: string,
    meta: { name?: string; archived?: boolean; fromHistory?: boolean; markedUnread?: boolean },
    opts: { defaultOwner: string | null; now: number },
  ): Promise<ChatTransition | null> {
    const archived = meta.archived === undefined ? '' : meta.archived ? '1' : '0'
    const reply = await this.run('chat-meta', sid, [
      jid,
      chatTypeOf(jid),
      meta.name ?? '',
      archived,
      opts.defaultOwner ?? '',
      opts.now,
      meta.fromHistory ? '1' : '0',
      meta.markedUnread ? '1' : '',
    ])
    // Null when history state was only remembered for a chat not seen yet.
    return transitionFromReply(reply, 'other')
  }

  /** Joins a LID and a phone-number jid; merges their chats if both exist. */
  async linkJids(sid: string, lid: string, pn: string): Promise<ChatTransition | null> {
    return transitionFromReply(await this.run('link-jids', sid, [lid, pn]), 'other')
  }

  /**
   * `name` is the name saved in the address book; `verifiedName` a business's verified name (shown when
   * none is saved); `pushName` the one the person chose (shown last).
   */
  async upsertContact(
    sid: string,
    c: {
      jid: string
      alt?: string
      name?: string
      pushName?: string
      verifiedName?: string
      dm?: boolean
      group?: string
    },
  ): Promise<void> {
    await this.run('upsert-contact', sid, [
      c.jid,
      c.alt ?? '',
      c.name ?? '',
      c.dm ? '1' : '0',
      c.group ?? '',
      c.pushName ?? '',
      c.verifiedName ?? '',
    ])
  }

  /** The chat behind any of its jid forms, or null. */
  async getChat(sid: string, jid: string): Promise<Chat | null> {
    const canonical = await this.resolve(sid, jid)
    if (!canonical) return null
    return chatFromHash(await this.redis.hgetall(this.keys.chat(sid, canonical)))
  }

  async resolve(sid: string, jid: string): Promise<string | null> {
    const direct = await this.redis.hget(this.keys.alias(sid), jid)
    if (direct) return direct
    const s = this.keys.session(sid)
    const alt = (await this.redis.hget(`${s}lid-pn`, jid)) ?? (await this.redis.hget(`${s}pn-lid`, jid))
    return alt ? this.redis.hget(this.keys.alias(sid), alt) : null
  }

  async countChats(sid: string): Promise<number> {
    return this.redis.zcard(this.keys.chatsIndex(sid))
  }

  /**
   * One page of the overview, newest activity first, read with a keyset cursor (score and chat of the
   * last item, plus where the session's change log stood): no page leaves anything in Redis. Paging
   * returns every chat present when its position is reached exactly once, even while chats move up (see
   * lua/overview-page.lua); each item shows the chat's current state.
   */
  async overview(
    sid: string,
    opts: { limit: number; cursor?: string; filter?: OverviewFilter },
  ): Promise<OverviewPage> {
    const filter = opts.filter ?? 'all'
    const at = opts.cursor ? decodeCursor(opts.cursor, sid, filter) : null
    const reply = (await this.run('overview-page', sid, [
      filter,
      opts.limit,
      at ? '1' : '0',
      at?.score ?? '',
      at?.member ?? '',
      at?.marker ?? '',
      at?.pageMs ?? '',
      MAX_MOVES_PER_PAGE,
    ])) as Array<string | number>
    if (reply[0] === 'expired') {
      throw new CursorError(
        'cursor expired: it is valid for 5 minutes after the page that issued it; start again without a cursor',
      )
    }
    if (reply[0] === 'busy') {
      throw new CursorError(
        `cursor expired: more than ${MAX_MOVES_PER_PAGE} chat changes since the page that issued it; start again without a cursor`,
      )
    }
    const [, score, member, marker, pageMs, ...jids] = reply.map(String)
    const items = await this.loadChats(sid, jids)
    const nextCursor = score
      ? encodeCursor({ sid, filter, score, member: member!, marker: marker!, pageMs: pageMs! })
      : ''
    return { items, nextCursor }
  }

  private async loadChats(sid: string, jids: string[]): Promise<Chat[]> {
    if (jids.length === 0) return []
    const pipe = this.redis.pipeline()
    for (const jid of jids) pipe.hgetall(this.keys.chat(sid, jid))
    const rows = (await pipe.exec()) ?? []
    // A chat merged into another since the page was read has no hash left: it shows under its surviving form.
    return rows.map(([, h]) => chatFromHash(h as Record<string, string>)).filter((c): c is Chat => c !== null)
  }

  /** Raw per-owner totals of one session: owner id (null = unassigned) -> unanswered messages and chats. */
  async ownerTotals(sid: string): Promise<Map<string | null, { messages: number; chats: number }>> {
    const [messages, chats] = await Promise.all([
      this.redis.hgetall(this.keys.ownerUnanswered(sid)),
      this.redis.hgetall(this.keys.ownerWaiting(sid)),
    ])
    const out = new Map<string | null, { messages: number; chats: number }>()
    for (const owner of new Set([...Object.keys(messages), ...Object.keys(chats)])) {
      out.set(owner === UNASSIGNED ? null : owner, {
        messages: Number(messages[owner] ?? 0),
        chats: Number(chats[owner] ?? 0),
      })
    }
    return out
  }

  /**
   * Unanswered messages of the given owners across sessions: one HMGET per session, sent concurrently
   * (not as one pipeline: on a cluster the sessions live on different shards). O(sessions × owners).
   */
  async unansweredOf(sids: string[], owners: Array<string | null>): Promise<Map<string | null, number>> {
    const out = new Map<string | null, number>(owners.map((o) => [o, 0]))
    if (sids.length === 0 || owners.length === 0) return out
    const fields = owners.map((o) => o ?? UNASSIGNED)
    const rows = await Promise.all(
      sids.map((sid) => this.redis.hmget(this.keys.ownerUnanswered(sid), ...fields)),
    )
    for (const values of rows) {
      values.forEach((v, i) => {
        const owner = owners[i]!
        out.set(owner, (out.get(owner) ?? 0) + Number(v ?? 0))
      })
    }
    return out
  }

  /**
   * Contacts the session has seen, ordered by jid, filters combinable. One request looks at no more than
   * CONTACTS_SCANNED_PER_PAGE records: a filter that matches few may answer fewer than `limit` items
   * (even none) with a nextCursor to go on from.
   */
  async contacts(sid: string, query: ContactQuery): Promise<{ items: Contact[]; nextCursor: string }> {
    const idx = this.keys.contactsIndex(sid)
    const groupSet = query.group
      ? new Set(await this.redis.smembers(this.keys.groupMembers(sid, query.group)))
      : null
    const q = query.q?.toLowerCase()
    const items: Contact[] = []
    let start = query.cursor ? `(${decodeContactCursor(query.cursor)}` : '-'
    let scanned = 0
    let lastScanned = ''
    const moreAfter = async (id: string) =>
      (await this.redis.zrangebylex(idx, `(${id}`, '+', 'LIMIT', 0, 1)).length > 0
    for (;;) {
      const batch = Math.min(Math.max(query.limit * 2, 100), CONTACTS_SCANNED_PER_PAGE - scanned)
      const ids = await this.redis.zrangebylex(idx, start, '+', 'LIMIT', 0, batch)
      if (ids.length === 0) return { items, nextCursor: '' }
      const raws = await this.redis.hmget(this.keys.contacts(sid), ...ids)
      for (let i = 0; i < ids.length; i++) {
        lastScanned = ids[i]!
        scanned++
        const c = contactFromJson(raws[i])
        if (!c || !matchesContact(c, ids[i]!, query, groupSet, q)) continue
        items.push(c)
        if (items.length === query.limit) {
          const more = i < ids.length - 1 || (await moreAfter(lastScanned))
          return { items, nextCursor: more ? encodeContactCursor(lastScanned) : '' }
        }
      }
      if (scanned >= CONTACTS_SCANNED_PER_PAGE) {
        return { items, nextCursor: (await moreAfter(lastScanned)) ? encodeContactCursor(lastScanned) : '' }
      }
      start = `(${lastScanned}`
    }
  }
}

/** Who to remember as a contact for an inbound message: the DM partner or the group participant. */
function senderContactArgs(e: MessageEvent): [string, string, string, string] {
  if (e.key.fromMe) return ['', '', '', '']
  if (chatTypeOf(e.key.remoteJid) === 'group') {
    return e.key.participant
      ? [e.key.participant, e.participantAlt ?? '', '0', e.key.remoteJid]
      : ['', '', '', '']
  }
  return [e.key.remoteJid, e.chatJidAlt ?? '', '1', '']
}

function matchesContact(
  c: Contact,
  id: string,
  query: ContactQuery,
  groupSet: Set<string> | null,
  q?: string,
): boolean {
  if (query.source === 'dm' && !c.dm) return false
  if (query.source === 'group' && c.groups.length === 0) return false
  if (groupSet && !groupSet.has(id)) return false
  if (q) {
    const hay = [c.name ?? '', c.phone ?? '', c.lid ?? '', c.jid].join(' ').toLowerCase()
    if (!hay.includes(q)) return false
  }
  return true
}

function contactFromJson(raw: string | null | undefined): Contact | null {
  if (!raw) return null
  const c = JSON.parse(raw) as {
    id: string
    name: string
    phoneJid: string
    lid: string
    dm: boolean
    groups: unknown
  }
  const phoneJid = c.phoneJid || null
  return {
    jid: c.id,
    name: c.name || null,
    phone: phoneJid ? (phoneOf(phoneJid) ?? null) : null,
    lid: c.lid || (isLid(c.id) ? c.id : null),
    dm: c.dm,
    // cjson encodes an empty list as {}: normalise.
    groups: Array.isArray(c.groups) ? (c.groups as string[]) : [],
  }
}

interface OverviewCursor {
  sid: string
  filter: OverviewFilter
  /** The last walked chat's score (lastActivity, integer ms) and jid. */
  score: string
  member: string
  /** The id of the session's newest `moves` entry when the page was read ('0-0': none). */
  marker: string
  /** Redis' clock (ms) when the page was read. */
  pageMs: string
}

const CURSOR_SHAPE =
  /^k1\|([A-Za-z0-9_-]{1,64})\|(all|unread|unanswered)\|(\d{1,16})\|(\d{1,20}-\d{1,20})\|(\d{1,16})\|([\x21-\x7e]{1,200})$/

function encodeCursor(c: OverviewCursor): string {
  return Buffer.from(`k1|${c.sid}|${c.filter}|${c.score}|${c.marker}|${c.pageMs}|${c.member}`).toString(
    'base64url',
  )
}

function decodeCursor(cursor: string, sid: string, filter: OverviewFilter): OverviewCursor {
  const text = Buffer.from(cursor, 'base64url').toString()
  const m = CURSOR_SHAPE.exec(text)
  // Re-encoding must give the same text back: rejects stray characters base64url decoding would skip.
  if (!m || Buffer.from(text).toString('base64url') !== cursor) {
    throw new CursorError('cursor is not one this API issued; start again without a cursor')
  }
  const [, cursorSid, cursorFilter, score, marker, pageMs, member] = m as unknown as string[]
  if (cursorSid !== sid) throw new CursorError(`cursor was issued for another session, not ${sid}`)
  if (cursorFilter !== filter) {
    const named = (f: string) => (f === 'all' ? 'no filter' : `filter=${f}`)
    throw new CursorError(
      `cursor was issued for ${named(cursorFilter!)}, not ${named(filter)}; keep the filter while paging`,
    )
  }
  return { sid, filter, score: score!, marker: marker!, pageMs: pageMs!, member: member! }
}

function encodeContactCursor(id: string): string {
  return Buffer.from(`c.${id}`).toString('base64url')
}

function decodeContactCursor(cursor: string): string {
  const s = Buffer.from(cursor, 'base64url').toString()
  if (!s.startsWith('c.') || s.length < 4) throw new CursorError('cursor is not one this API issued')
  return s.slice(2)
}
