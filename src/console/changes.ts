import type { Redis } from 'ioredis'
import type { InboxEvent } from '../domain/events.js'
import { duplicateRedis } from '../redis.js'

/**
 * "Something changed in session X" notices for the console's live pages. They carry no data (the page
 * fetches what it shows through the API, where org isolation is checked), so a lost notice costs at
 * most a stale page until the next one. They travel over Redis pub/sub because the changes happen in
 * worker processes while the browser is connected to a web process.
 */

export const CHANGE_KINDS = ['inbox', 'status'] as const
export type ChangeKind = (typeof CHANGE_KINDS)[number]
export interface Change {
  sid: string
  kind: ChangeKind
}

export const changesChannel = (prefix: string) => `${prefix}:console:changes`

/** How long notices of one session and kind are held back and merged: a busy inbox sends ~4 a second. */
const COALESCE_MS = 250

/** The producers' side: one publish per session and kind per COALESCE_MS at most. */
export class ChangePublisher {
  private readonly pending = new Map<string, NodeJS.Timeout>()

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly coalesceMs = COALESCE_MS,
  ) {}

  /** An Ingestor listener: every applied inbox event is a change of its session's inbox. */
  readonly onApplied = (event: InboxEvent): void => {
    this.publish(event.sessionId, 'inbox')
  }

  publish(sid: string, kind: ChangeKind): void {
    const id = `${kind}\u0000${sid}`
    if (this.pending.has(id)) return
    const timer = setTimeout(() => {
      this.pending.delete(id)
      // Best effort by design (see above): a failed publish must never fail the inbox change itself.
      this.redis.publish(changesChannel(this.prefix), JSON.stringify({ sid, kind })).catch(() => {})
    }, this.coalesceMs)
    timer.unref()
    this.pending.set(id, timer)
  }

  close(): void {
    for (const t of this.pending.values()) clearTimeout(t)
    this.pending.clear()
  }
}

/** The web process's side: one subscription, shared by every open console page of this process. */
export class ChangeSubscriber {
  private sub: Redis | null = null
  private subscribed: Promise<unknown> | null = null
  private readonly listeners = new Set<(c: Change) => void>()

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Subscribes on first use; returns the unsubscribe function. */
  async listen(listener: (c: Change) => void): Promise<() => void> {
    this.listeners.add(listener)
    if (!this.sub) {
      const sub = duplicateRedis(this.redis, { name: 'console-changes' })
      this.sub = sub
      sub.on('error', () => {})
      sub.on('message', (_channel: string, raw: string) => {
        const change = parseChange(raw)
        if (change) for (const l of this.listeners) l(change)
      })
      this.subscribed = sub.subscribe(changesChannel(this.prefix))
    }
    await this.subscribed
    return () => {
      this.listeners.delete(listener)
    }
  }

  close(): void {
    this.listeners.clear()
    this.sub?.disconnect()
    this.sub = null
    this.subscribed = null
  }
}

function parseChange(raw: string): Change | null {
  try {
    const v = JSON.parse(raw) as Partial<Change>
    if (typeof v.sid === 'string' && CHANGE_KINDS.includes(v.kind as ChangeKind))
      return { sid: v.sid, kind: v.kind as ChangeKind }
  } catch {}
  return null
}
