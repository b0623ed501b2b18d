import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { PresenceState, WhatsAppSession } from './port.js'
import { SessionNotLiveError } from './port.js'

/**
 * Live-session commands that cannot wait in a queue (presence expires within seconds) travel over
 * Redis pub/sub to whichever worker process holds the session. No subscriber means no live client.
 */

const commandSchema = z.object({
  id: z.string(),
  replyTo: z.string(),
  sessionId: z.string(),
  cmd: z.literal('presence'),
  jid: z.string(),
  state: z.enum(['composing', 'recording', 'paused']),
})
type Command = z.infer<typeof commandSchema>
const replySchema = z.object({
  id: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  notLive: z.boolean().optional(),
})

export interface SessionGateway {
  sendPresence(sessionId: string, jid: string, state: PresenceState): Promise<void>
  close(): Promise<void>
}

export class CommandTimeoutError extends Error {}

const channelOf = (prefix: string, sid: string) => `${prefix}:cmd:${sid}`

/** The caller's side (web process). */
export class RedisSessionGateway implements SessionGateway {
  private readonly sub: Redis
  private readonly replyChannel: string
  private readonly pending = new Map<
    string,
    { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >()
  private subscribed: Promise<unknown> | null = null

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly timeoutMs = 5000,
  ) {
    this.replyChannel = `${prefix}:cmd-reply:${randomBytes(8).toString('hex')}`
    this.sub = redis.duplicate({ connectionName: 'cmd-replies' })
    this.sub.on('error', () => {})
    this.sub.on('message', (_channel: string, raw: string) => this.onReply(raw))
  }

  /** Subscribes on first use; a failed attempt (Redis down) is retried by the next call. */
  private ensureSubscribed(): Promise<unknown> {
    this.subscribed ??= this.sub.subscribe(this.replyChannel).catch((err: unknown) => {
      this.subscribed = null
      throw err
    })
    return this.subscribed
  }

  private onReply(raw: string): void {
    const parsed = replySchema.safeParse(safeJson(raw))
    if (!parsed.success) return
    const p = this.pending.get(parsed.data.id)
    if (!p) return
    this.pending.delete(parsed.data.id)
    clearTimeout(p.timer)
    if (parsed.data.ok) p.resolve()
    else if (parsed.data.notLive) p.reject(new SessionNotLiveError(''))
    else p.reject(new Error(parsed.data.error ?? 'command failed'))
  }

  async sendPresence(sessionId: string, jid: string, state: PresenceState): Promise<void> {
    await this.ensureSubscribed()
    const command: Command = {
      id: randomBytes(8).toString('hex'),
      replyTo: this.replyChannel,
      sessionId,
      cmd: 'presence',
      jid,
      state,
    }
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(command.id)
        reject(new CommandTimeoutError(`session ${sessionId} did not answer within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.pending.set(command.id, { resolve, reject, timer })
    })
    const receivers = await this.redis.publish(channelOf(this.prefix, sessionId), JSON.stringify(command))
    if (receivers === 0) {
      const p = this.pending.get(command.id)
      if (p) clearTimeout(p.timer)
      this.pending.delete(command.id)
      throw new SessionNotLiveError(sessionId)
    }
    try {
      await done
    } catch (err) {
      if (err instanceof SessionNotLiveError) throw new SessionNotLiveError(sessionId)
      throw err
    }
  }

  async close(): Promise<void> {
    for (const p of this.pending.values()) clearTimeout(p.timer)
    this.pending.clear()
    this.sub.disconnect()
  }
}

/** The holder's side (worker process): answers commands for the sessions it runs. */
export class SessionCommandServer {
  private readonly sub: Redis

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly sessions: (sid: string) => WhatsAppSession | undefined,
    private readonly log: Logger,
  ) {
    this.sub = redis.duplicate({ connectionName: 'cmd-server' })
    this.sub.on('error', () => {})
    this.sub.on('message', (_c: string, raw: string) => {
      void this.handle(raw)
    })
  }

  /** Listens for the session's commands (call when the session opens). */
  async serve(sessionId: string): Promise<void> {
    await this.sub.subscribe(channelOf(this.prefix, sessionId))
  }

  async unserve(sessionId: string): Promise<void> {
    await this.sub.unsubscribe(channelOf(this.prefix, sessionId))
  }

  private async handle(raw: string): Promise<void> {
    const parsed = commandSchema.safeParse(safeJson(raw))
    if (!parsed.success) {
      this.log.warn('ignored a malformed session command')
      return
    }
    const c = parsed.data
    const session = this.sessions(c.sessionId)
    let reply: z.infer<typeof replySchema>
    if (session?.status() !== 'WORKING') reply = { id: c.id, ok: false, notLive: true }
    else {
      try {
        await session.sendPresence(c.jid, c.state)
        reply = { id: c.id, ok: true }
      } catch (err) {
        reply = { id: c.id, ok: false, error: err instanceof Error ? err.message : String(err) }
      }
    }
    await this.redis.publish(c.replyTo, JSON.stringify(reply))
  }

  async close(): Promise<void> {
    this.sub.disconnect()
  }
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return null
  }
}
