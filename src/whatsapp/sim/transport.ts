import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { type Clock, systemClock } from '../../clock.js'
import type { MessageKey } from '../../domain/events.js'
import type { Keys } from '../../keys.js'
import { duplicateRedis } from '../../redis.js'
import { type OwnAction, ownActionEvents } from '../own-actions.js'
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
    session.start(await this.deps.network.isLinked(sessionId))
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
  /** Where the reader's connection errors go (the outage log); without it, one warning each. */
  onConnectionError?: (err: unknown, source: string) => void
  /** The instant of the inbox events our own actions produce. Default Date.now. */
  clock?: Clock
  /** How long each pairing QR code lives: the first, then each next one. Default Baileys' 60 s, 20 s. */
  qrMs?: { first: number; next: number }
}

/**
 * Baileys' QR timing (lib/Socket/socket.js, the `pair-device` handler's genPairQR): the first QR code
 * lives 60 s, each later one 20 s. Not modelled: Baileys ends the connection when WhatsApp's refs run
 * out; a simulated session keeps showing fresh codes until it is linked or closed.
 */
const BAILEYS_QR_MS = { first: 60_000, next: 20_000 }

/**
 * A pairing QR's payload as Baileys builds it (Utils/validate-connection.js `buildPairingQRData`): the
 * server's ref, then our noise key, identity key and adv secret, base64, comma-separated.
 */
function simQrData(): string {
  const b64 = (n: number) => randomBytes(n).toString('base64')
  return [`2@${b64(24)}`, b64(32), b64(32), b64(32)].join(',')
}

/** Baileys' pairing code: 5 random bytes in Crockford base32, 8 characters (Socket/socket.js requestPairingCode). */
function simPairingCode(): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTVWXYZ'
  return [...randomBytes(8)].map((b) => alphabet[b % 32]).join('')
}

const RETRY_MS = 250

/** An inbound entry as the sink gets it; one that is not JSON goes on marked, for the sink to refuse. */
function parseEntry(raw: string | undefined): unknown {
  try {
    return JSON.parse(raw ?? 'null')
  } catch {
    return { malformed: raw }
  }
}
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

class SimSession implements WhatsAppSession {
  private state: SessionStatus = 'STARTING'
  private closing = false
  private readonly reader: Redis
  private loop: Promise<void> = Promise.resolve()
  /** While pairing: the code a phone may type instead of scanning (after requestPairingCode). */
  private pairingCode: string | null = null

  constructor(
    readonly sessionId: string,
    private readonly sink: EventSink,
    private readonly deps: SimDeps,
  ) {
    // Blocking reads get their own connection so they never hold up other commands.
    this.reader = duplicateRedis(deps.redis, { forWorkers: true, name: `sim-reader:${sessionId}` })
    this.reader.on('error', (err) => {
      if (this.closing) return
      if (deps.onConnectionError) deps.onConnectionError(err, `sim reader ${sessionId}`)
      else deps.log.warn({ err, sessionId }, 'sim reader connection error')
    })
  }

  /** A linked number is WORKING at once; an unlinked one pairs first (linkUp). */
  start(linked: boolean): void {
    if (linked) this.state = 'WORKING'
    if (linked) void this.report('WORKING', {})
    this.loop = (linked ? Promise.resolve() : this.linkUp())
      .then(() => {
        if (this.closing) return
        if (!linked) {
          this.state = 'WORKING'
          void this.report('WORKING', {})
        }
        return this.consume()
      })
      .catch((err: unknown) => {
        if (this.closing) return
        this.deps.log.error({ err, sessionId: this.sessionId }, 'sim session stopped delivering')
        this.state = 'FAILED'
        void this.report('FAILED', { detail: String(err) })
      })
  }

  /**
   * An unlinked number shows QR codes, a new one each time the last expires, until a phone scans the
   * current one (or types the pairing code); then it is linked and the connection opens, as Baileys'
   * does after `pair-success` and the restart WhatsApp asks for.
   */
  private async linkUp(): Promise<void> {
    const { network } = this.deps
    const qrMs = this.deps.qrMs ?? BAILEYS_QR_MS
    let lifetime = qrMs.first
    while (!this.closing) {
      const qr = simQrData()
      this.state = 'SCAN_QR_CODE'
      await this.report('SCAN_QR_CODE', { qr })
      const expires = Date.now() + lifetime
      lifetime = qrMs.next
      while (!this.closing && Date.now() < expires) {
        const popped = await this.reader.blpop(
          network.pairingInbox(this.sessionId),
          Math.max(0.01, (expires - Date.now()) / 1000),
        )
        const entry = popped?.[1]
        if (entry !== `qr:${qr}` && !(this.pairingCode && entry === `code:${this.pairingCode}`)) continue
        await this.retried('saving the sim link state', () => network.setLinked(this.sessionId, true))
        this.pairingCode = null
        this.state = 'STARTING'
        await this.report('STARTING', { detail: 'paired: opening the connection' })
        return
      }
    }
  }

  async requestPairingCode(_phone: string): Promise<string> {
    if (this.state !== 'SCAN_QR_CODE') throw new Error('the session is not waiting to be paired')
    this.pairingCode = simPairingCode()
    return this.pairingCode
  }

  /** Publishes a status change, retrying while Redis is away: a lost write would show a stale status. */
  private async report(status: SessionStatus, extra: { detail?: string; qr?: string }): Promise<void> {
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

  /**
   * Delivers inbound entries one at a time (in order), remembering the last one handled. Every step is
   * retried while Redis is away: a step given up on would skip an event, or end the loop for good (a
   * failed offset write once did, found by the soak).
   */
  private async consume(): Promise<void> {
    const { keys, redis } = this.deps
    let offset = await this.retried(
      'reading the sim offset',
      async () => (await redis.get(this.offsetKey())) ?? '0',
    )
    while (!this.closing) {
      const batch = await this.retried(
        'sim inbound read',
        () =>
          this.reader.xread(
            'COUNT',
            100,
            'BLOCK',
            this.deps.blockMs ?? 1000,
            'STREAMS',
            keys.simInbound(this.sessionId),
            offset,
          ) as Promise<[string, [string, string[]][]][] | null>,
      )
      for (const [, entries] of batch ?? []) {
        for (const [id, fields] of entries) {
          if (this.closing) return
          const event = parseEntry(fields[1])
          await this.retried('handling a sim event', () => this.sink(event), { entry: id, level: 'error' })
          offset = id
          // Written over the shared connection: close() disconnects the reader, not this one.
          await this.retried('saving the sim offset', () => redis.set(this.offsetKey(), id))
        }
      }
    }
  }

  /** Runs `step` until it succeeds, pausing between tries; once the session is closing, a failure ends it. */
  private async retried<T>(
    what: string,
    step: () => Promise<T>,
    log: { entry?: string; level?: 'warn' | 'error' } = {},
  ): Promise<T> {
    for (;;) {
      try {
        return await step()
      } catch (err) {
        if (this.closing) throw err
        const fields = { err, sessionId: this.sessionId, ...(log.entry ? { entry: log.entry } : {}) }
        this.deps.log[log.level ?? 'warn'](fields, `${what} failed; retrying`)
        await delay(RETRY_MS)
      }
    }
  }

  private async act(action: Parameters<SimNetwork['recordAction']>[1], opts?: ActionOptions): Promise<void> {
    if (this.state !== 'WORKING') throw new SessionNotLiveError(this.sessionId)
    await this.deps.network.recordAction(this.sessionId, action, opts?.idempotencyKey)
  }

  /** Once the simulated WhatsApp accepted our action, the inbox follows, as with Baileys (see ../own-actions). */
  private async reflect(action: OwnAction): Promise<void> {
    for (const event of ownActionEvents(this.sessionId, action, (this.deps.clock ?? systemClock).now()))
      await this.sink(event)
  }

  async readMessages(keys: MessageKey[], opts?: ActionOptions): Promise<void> {
    // Baileys skips fromMe keys; so does the simulated WhatsApp.
    const read = keys.filter((k) => !k.fromMe)
    await this.act({ kind: 'read', keys: read }, opts)
    await this.reflect({ kind: 'read', keys: read })
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
    await this.act({ kind: 'chatModify', modification, jid: chat.jid, lastMessage: chat.lastMessage }, opts)
    await this.reflect({ kind: modification, chat })
  }

  sendPresence(jid: string, state: PresenceState, opts?: ActionOptions): Promise<void> {
    return this.act({ kind: 'presence', jid, state }, opts)
  }

  /** Like a phone unlinking the device: the session stops and needs pairing (here: a start) again. */
  async logout(): Promise<void> {
    await this.close()
    await this.deps.network.setLinked(this.sessionId, false)
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
