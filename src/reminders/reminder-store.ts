import type { Redis } from 'ioredis'
import type { Keys } from '../keys.js'
import { LuaScripts } from '../lua.js'

export const REMINDER_STATUSES = [
  'scheduled',
  'waiting_for_app_state',
  'done',
  'failed',
  'cancelled',
  'replaced',
] as const
export type ReminderStatus = (typeof REMINDER_STATUSES)[number]
export type CancelTrigger = 'inbound' | 'outbound'

export interface Reminder {
  id: string
  sessionId: string
  chatJid: string
  dueAt: number
  status: ReminderStatus
  clearFirst: boolean
  snooze: boolean
  note: string | null
  cancelOn: CancelTrigger[]
  createdAt: number
  updatedAt: number
  /** Times WhatsApp refused for want of the app-state key. */
  attempts: number
  /** Why it failed or was cancelled. */
  detail: string | null
}

const SCRIPTS = { 'reminder-create': 2, 'reminder-finish': 2 } as const
const LIVE: ReadonlySet<ReminderStatus> = new Set(['scheduled', 'waiting_for_app_state'])

/** Reminders in Redis: one record each, one pending per chat (a newer one replaces it). */
export class ReminderStore {
  private readonly lua: LuaScripts<keyof typeof SCRIPTS>

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    this.lua = new LuaScripts(redis, {
      dir: new URL('./lua/', import.meta.url),
      scripts: SCRIPTS,
      namespace: 'tbrem',
    })
  }

  /** Stores a new reminder; returns the id of the pending one it replaced, if any. */
  async create(r: Reminder): Promise<string | null> {
    const fields: Array<string | number> = []
    for (const [k, v] of Object.entries(toHash(r))) fields.push(k, v)
    const replaced = await this.lua.run(
      'reminder-create',
      [this.keys.reminderOf(r.sessionId, r.chatJid), this.keys.reminderIndex(r.sessionId, r.chatJid)],
      [r.id, this.keys.reminderBase(r.sessionId), r.dueAt, ...fields],
    )
    return typeof replaced === 'string' ? replaced : null
  }

  async get(sid: string, rid: string): Promise<Reminder | null> {
    return fromHash(await this.redis.hgetall(this.keys.reminderBase(sid) + rid))
  }

  /** The chat's pending reminder, if any. */
  async pendingOf(sid: string, chat: string): Promise<Reminder | null> {
    const rid = await this.redis.get(this.keys.reminderOf(sid, chat))
    if (!rid) return null
    const r = await this.get(sid, rid)
    return r && LIVE.has(r.status) ? r : null
  }

  /** Pending reminders of several chats in one round-trip (for the overview). */
  async pendingOfMany(sid: string, chats: string[]): Promise<Map<string, Reminder>> {
    const out = new Map<string, Reminder>()
    if (chats.length === 0) return out
    const ids = await this.redis.mget(...chats.map((c) => this.keys.reminderOf(sid, c)))
    const pipe = this.redis.pipeline()
    for (const id of ids) pipe.hgetall(this.keys.reminderBase(sid) + (id ?? '-'))
    const rows = (await pipe.exec()) ?? []
    rows.forEach(([, h], i) => {
      const r = ids[i] ? fromHash(h as Record<string, string>) : null
      if (r && LIVE.has(r.status)) out.set(chats[i]!, r)
    })
    return out
  }

  /** The chat's recent reminders, newest due first. */
  async listOf(sid: string, chat: string): Promise<Reminder[]> {
    const ids = await this.redis.zrevrange(this.keys.reminderIndex(sid, chat), 0, 49)
    const pipe = this.redis.pipeline()
    for (const id of ids) pipe.hgetall(this.keys.reminderBase(sid) + id)
    const rows = (await pipe.exec()) ?? []
    return rows.map(([, h]) => fromHash(h as Record<string, string>)).filter((r): r is Reminder => r !== null)
  }

  /**
   * Moves a live reminder to `status`; returns its previous status (a final status means nothing
   * changed), or null when unknown.
   */
  async transition(
    sid: string,
    chat: string,
    rid: string,
    status: ReminderStatus,
    now: number,
    detail = '',
  ): Promise<ReminderStatus | null> {
    const prev = await this.lua.run(
      'reminder-finish',
      [this.keys.reminderBase(sid) + rid, this.keys.reminderOf(sid, chat)],
      [rid, status, now, detail],
    )
    return typeof prev === 'string' ? (prev as ReminderStatus) : null
  }

  static isLive(status: ReminderStatus): boolean {
    return LIVE.has(status)
  }
}

function toHash(r: Reminder): Record<string, string | number> {
  return {
    id: r.id,
    sessionId: r.sessionId,
    chatJid: r.chatJid,
    dueAt: r.dueAt,
    status: r.status,
    clearFirst: r.clearFirst ? 1 : 0,
    snooze: r.snooze ? 1 : 0,
    note: r.note ?? '',
    cancelOn: r.cancelOn.join(','),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    attempts: r.attempts,
    detail: r.detail ?? '',
  }
}

function fromHash(h: Record<string, string>): Reminder | null {
  if (!h.id) return null
  return {
    id: h.id,
    sessionId: h.sessionId ?? '',
    chatJid: h.chatJid ?? '',
    dueAt: Number(h.dueAt),
    status: h.status as ReminderStatus,
    clearFirst: h.clearFirst === '1',
    snooze: h.snooze === '1',
    note: h.note || null,
    cancelOn: (h.cancelOn ? h.cancelOn.split(',') : []) as CancelTrigger[],
    createdAt: Number(h.createdAt),
    updatedAt: Number(h.updatedAt),
    attempts: Number(h.attempts ?? 0),
    detail: h.detail || null,
  }
}
