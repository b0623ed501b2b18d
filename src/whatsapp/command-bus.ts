import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { z } from 'zod'
import { chatJidSchema } from '../domain/events.js'
import { duplicateRedis } from '../redis.js'
import type { PresenceState } from './port.js'
import { SessionNotLiveError } from './port.js'

/**
 * Commands that need the live socket now and cannot wait in a queue (presence expires within seconds;
 * an operator waits for a pairing code) travel over Redis pub/sub to whichever worker process holds
 * the session, which answers on the caller's reply channel. No subscriber means no live client.
 */

export const sessionCommandSchema = z.discriminatedUnion('cmd', [
  z.object({
    cmd: z.literal('presence'),
    /** Reaches Baileys' sendPresenceUpdate: the full jid grammar, like every jid from outside. */
    jid: chatJidSchema,
    state: z.enum(['composing', 'recording', 'paused']),
  }),
  /** Re-open the session's connection (after FAILED, or to re-pair). */
  z.object({ cmd: z.literal('restart') }),
  /** Log out on WhatsApp and wipe the stored auth. */
  z.object({ cmd: z.literal('logout') }),
  z.object({ cmd: z.literal('pairingCode'), phone: z.string().regex(/^\d{6,15}$/) }),
])
export type SessionCommand = z.infer<typeof sessionCommandSchema>

const envelopeSchema = z.object({
  id: z.string(),
  replyTo: z.string(),
  sessionId: z.string(),
  command: sessionCommandSchema,
})
const replySchema = z.object({
  id: z.string(),
  ok: z.boolean(),
  result: z.string().optional(),
  error: z.string().optional(),
  notLive: z.boolean().optional(),
})

/** What the holder does for each command; returns an optional text result (the pairing code). */
export type SessionCommandHandler = (
  sessionId: string,
  command: SessionCommand,
) => Promise<string | undefined>

export interface SessionGateway {
  sendPresence(sessionId: string, jid: string, state: PresenceState): Promise<void>
  /** Sends any command; rejects with SessionNotLiveError when no process holds the session. */
  call(sessionId: string, command: SessionCommand, timeoutMs?: number): Promise<string | undefined>
  close(): Promise<void>
}

export class CommandTimeoutError extends Error {}
/** The holder ran the command and it failed there. */
export class CommandFailedError extends Error {}

/** The pub/sub channel on which the holder of a session listens for its commands. */
export const commandChannel = (prefix: string, sid: string) => `${prefix}:cmd:${sid}`
const channelOf = commandChannel

interface Pending {
  resolve: (result: string | undefined) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

/** The caller's side (web process, CLI). */
export class RedisSessionGateway implements SessionGateway {
  private readonly sub: Redis
  private readonly replyChannel: string
  private readonly pending = new Map<string, Pending>()
  private subscribed: Promise<unknown> | null = null

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly timeoutMs = 5000,
  ) {
    this.replyChannel = `${prefix}:cmd-reply:${randomBytes(8).toString('hex')}`
    this.sub = duplicateRedis(redis, { name: 'cmd-replies' })
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
    if (parsed.data.ok) p.resolve(parsed.data.result)
    else if (parsed.data.notLive) p.reject(new SessionNotLiveError(''))
    else p.reject(new CommandFailedError(parsed.data.error ?? 'command failed'))
  }

  async sendPresence(sessionId: string, jid: string, state: PresenceState): Promise<void> {
    await this.call(sessionId, { cmd: 'presence', jid, state })
  }

  async call(
    sessionId: string,
    command: SessionCommand,
    timeoutMs = this.timeoutMs,
  ): Promise<string | undefined> {
    await this.ensureSubscribed()
    const id = randomBytes(8).toString('hex')
    const done = new Promise<string | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new CommandTimeoutError(`session ${sessionId} did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
    })
    const forget = () => {
      const p = this.pending.get(id)
      if (p) clearTimeout(p.timer)
      this.pending.delete(id)
    }
    const envelope = { id, replyTo: this.replyChannel, sessionId, command }
    let receivers: number
    try {
      receivers = await this.redis.publish(channelOf(this.prefix, sessionId), JSON.stringify(envelope))
    } catch (err) {
      // Redis unreachable: nobody got the command, and no timer may reject `done` later unobserved.
      forget()
      throw err
    }
    if (receivers === 0) {
      forget()
      throw new SessionNotLiveError(sessionId)
    }
    try {
      return await done
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
    private readonly handler: SessionCommandHandler,
    private readonly log: Logger,
  ) {
    this.sub = duplicateRedis(redis, { name: 'cmd-server' })
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
    const parsed = envelopeSchema.safeParse(safeJson(raw))
    if (!parsed.success) {
      this.log.warn('ignored a malformed session command')
      return
    }
    const { id, replyTo, sessionId, command } = parsed.data
    let reply: z.infer<typeof replySchema>
    try {
      const result = await this.handler(sessionId, command)
      reply = { id, ok: true, ...(result !== undefined ? { result } : {}) }
    } catch (err) {
      reply =
        err instanceof SessionNotLiveError
          ? { id, ok: false, notLive: true }
          : { id, ok: false, error: err instanceof Error ? err.message : String(err) }
    }
    await this.redis.publish(replyTo, JSON.stringify(reply))
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
