import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { MessageKey } from '../../domain/events.js'
import type { Keys } from '../../keys.js'
import { duplicateRedis } from '../../redis.js'
import {
  type ActionOptions,
  AppStateKeyMissingError,
  type ChatRef,
  type EventSink,
  type PresenceState,
  SessionNotLiveError,
  type SessionStatus,
  type StatusListener,
  type WhatsAppSession,
  type WhatsAppTransport,
} from '../port.js'
import type { SimNetwork } from './network.js'

/**
 * The `sim` transport: sessions that read their inbound traffic from the SimNetwork streams and record
 * every action they are asked to perform there. Used by the demo, end-to-end tests and load tests.
 */
export class SimTransport implements WhatsAppTransport {
  readonly kind = 'sim' as const

  constructor(private readonly deps: SimDeps) {}

  async open(sessionId: string, sink: EventSink): Promise<WhatsAppSession> {
    const session = new SimSession(sessionId, sink, this.deps)
    session.start()
    return session
  }
}

interface SimDeps {
  redis: Redis
  keys: Keys
  network: SimNetwork
  log: Logger
  blockMs?: number
  onStatus?: StatusListener
}

const RETRY_MS = 250
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

class SimSession implements WhatsAppSession {
  private state: SessionStatus = 'STARTING'
  private closing = false
  private readonly reader: Redis
  private loop: Promise<void> = Promise.resolve()

  constructor(
    readonly sessionId: string,
    private readonly sink: EventSink,
    private readonly deps: SimDeps,
  ) {
    // Blocking reads get their own connection so they never hold up other commands.
    this.reader = duplicateRedis(deps.redis, { forWorkers: true, name: `sim-reader:${sessionId}` })
    this.reader.on('error', (err) => {
      if (!this.closing) deps.log.warn({ err, sessionId }, 'sim reader connection error')
    })
  }

  start(): void {
    this.state = 'WORKING'
    void this.report('WORKING', {})
    this.loop = this.consume().catch((err: unknown) => {
      if (this.closing) return
      this.deps.log.error({ err, sessionId: this.sessionId }, 'sim session stopped delivering')
      this.state = 'FAILED'
      void this.report('FAILED', { detail: String(err) })
    })
  }

  /** Publishes a status change, retrying while Redis is away: a lost write would show a stale status. */
  private async report(status: SessionStatus, extra: { detail?: string }): Promise<void> {
    while (this.deps.onStatus && !this.closing && this.state === status) {
      try {
        return await this.deps.onStatus(this.sessionId, status, extra)
      } catch {
        await delay(RETRY_MS)
      }
    }
  }

  status(): SessionStatus {
    return this.state
  }

  private offsetKey(): string {
    return `${this.deps.keys.simInbound(this.sessionId)}:offset`
  }

  /** Delivers inbound entries one at a time (in order), remembering the last one handled. */
  private async consume(): Promise<void> {
    const { keys, log } = this.deps
    let offset = await this.readOffset()
    while (!this.closing) {
      let batch: [string, [string, string[]][]][] | null
      try {
        batch = (await this.reader.xread(
          'COUNT',
          100,
          'BLOCK',
          this.deps.blockMs ?? 1000,
          'STREAMS',
          keys.simInbound(this.sessionId),
          offset,
        )) as [string, [string, string[]][]][] | null
      } catch (err) {
        if (this.closing) break
        log.warn({ err, sessionId: this.sessionId }, 'sim inbound read failed; retrying')
        await delay(RETRY_MS)
        continue
      }
      for (const [, entries] of batch ?? []) {
        for (const [id, fields] of entries) {
          if (this.closing) return
          await this.deliver(id, fields[1])
          offset = id
          await this.saveOffset(id)
        }
      }
    }
  }

  /** Hands one entry to the sink, retrying while the sink fails (Redis down): never skips an event. */
  private async deliver(id: string, raw: string | undefined): Promise<void> {
    let event: unknown
    try {
      event = JSON.parse(raw ?? 'null')
    } catch {
      event = { malformed: raw }
    }
    for (;;) {
      try {
        await this.sink(event)
        return
      } catch (err) {
        this.deps.log.error(
          { err, sessionId: this.sessionId, entry: id },
          'handling a sim event failed; retrying',
        )
        if (this.closing) throw err
        await delay(RETRY_MS)
      }
    }
  }

  /**
   * Remembers the last entry handled, retrying while Redis is away. Uncaught, a write that failed during
   * a Redis restart ended the loop: the session stopped delivering for good (found by the soak).
   */
  private async saveOffset(id: string): Promise<void> {
    for (;;) {
      try {
        // Written over the shared connection: close() disconnects the reader, not this one.
        await this.deps.redis.set(this.offsetKey(), id)
        return
      } catch (err) {
        if (this.closing) return
        this.deps.log.warn({ err, sessionId: this.sessionId }, 'saving the sim offset failed; retrying')
        await delay(RETRY_MS)
      }
    }
  }

  private async readOffset(): Promise<string> {
    for (;;) {
      try {
        return (await this.deps.redis.get(this.offsetKey())) ?? '0'
      } catch (err) {
        if (this.closing) return '0'
        this.deps.log.warn({ err, sessionId: this.sessionId }, 'reading the sim offset failed; retrying')
        await delay(RETRY_MS)
      }
    }
  }

  private async act(action: Parameters<SimNetwork['recordAction']>[1], opts?: ActionOptions): Promise<void> {
    if (this.state !== 'WORKING') throw new SessionNotLiveError(this.sessionId)
    await this.deps.network.recordAction(this.sessionId, action, opts?.idempotencyKey)
  }

  readMessages(keys: MessageKey[], opts?: ActionOptions): Promise<void> {
    // Baileys skips fromMe keys; so does the simulated WhatsApp.
    return this.act({ kind: 'read', keys: keys.filter((k) => !k.fromMe) }, opts)
  }

  markChatRead(chat: ChatRef, opts?: ActionOptions): Promise<void> {
    return this.modify('markRead', chat, opts)
  }

  markChatUnread(chat: ChatRef, opts?: ActionOptions): Promise<void> {
    return this.modify('markUnread', chat, opts)
  }

  setArchived(chat: ChatRef, archived: boolean, opts?: ActionOptions): Promise<void> {
    return this.modify(archived ? 'archive' : 'unarchive', chat, opts)
  }

  private async modify(
    modification: 'markRead' | 'markUnread' | 'archive' | 'unarchive',
    chat: ChatRef,
    opts?: ActionOptions,
  ): Promise<void> {
    if (this.state !== 'WORKING') throw new SessionNotLiveError(this.sessionId)
    if (await this.deps.network.takeFault(this.sessionId, 'app_state_missing'))
      throw new AppStateKeyMissingError()
    return this.act({ kind: 'chatModify', modification, jid: chat.jid, lastMessage: chat.lastMessage }, opts)
  }

  sendPresence(jid: string, state: PresenceState, opts?: ActionOptions): Promise<void> {
    return this.act({ kind: 'presence', jid, state }, opts)
  }

  /** Like a phone unlinking the device: the session stops and needs pairing (here: a start) again. */
  async logout(): Promise<void> {
    await this.close()
    this.state = 'FAILED'
    await this.deps.onStatus?.(this.sessionId, 'FAILED', { detail: 'logged out: pair again' })
  }

  async close(): Promise<void> {
    this.closing = true
    this.state = 'STOPPED'
    this.reader.disconnect()
    await this.loop.catch(() => {})
  }
}
