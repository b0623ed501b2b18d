import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { z } from 'zod'
import type { Clock } from '../../clock.js'
import {
  chatJidSchema,
  epochMsSchema,
  type MessageKey,
  messageIdSchema,
  userJidSchema,
} from '../../domain/events.js'
import type { Keys } from '../../keys.js'
import type { PresenceState } from '../port.js'

/**
 * The simulated WhatsApp "network": Redis streams that carry what customers send to a session and what
 * the service did to WhatsApp. Because it lives in Redis, the web process can inject a message that the
 * worker holding the session receives, exactly as with a real socket.
 */

export const simMessageInputSchema = z
  .object({
    chatId: chatJidSchema,
    chatIdAlt: chatJidSchema.optional(),
    fromMe: z.boolean().default(false),
    participant: userJidSchema.optional(),
    text: z.string().min(1).max(65_536),
    id: messageIdSchema.optional(),
    timestamp: epochMsSchema.optional(),
    pushName: z.string().max(256).optional(),
    origin: z.enum(['customer', 'phone', 'bot', 'crm', 'api']).optional(),
  })
  .strict()
export type SimMessageInput = z.input<typeof simMessageInputSchema>

export type SimAction =
  | { kind: 'read'; keys: MessageKey[] }
  | {
      kind: 'chatModify'
      modification: 'markRead' | 'markUnread' | 'archive' | 'unarchive'
      jid: string
      lastMessage: { key: MessageKey; timestamp: number }
    }
  | { kind: 'presence'; jid: string; state: PresenceState }

export type RecordedSimAction = SimAction & { seq: string; at: number; sessionId: string }

const ACTIONS_KEEP = 100_000
const INBOUND_KEEP = 100_000

/** WhatsApp-like random ids: unique across processes without coordination. */
function simMessageId(): string {
  return `3EB0${randomBytes(10).toString('hex').toUpperCase()}`
}

/** Takes one pending fault of a kind, if any (faults are counted down atomically). */
const TAKE_FAULT = `
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
return 1
`

/** Faults the simulated WhatsApp can be told to answer with, as real WhatsApp does. */
export const SIM_FAULTS = ['app_state_missing'] as const
export type SimFault = (typeof SIM_FAULTS)[number]

const RECORD_ACTION = `
if ARGV[1] == '1' and redis.call('SET', KEYS[2], '1', 'NX', 'EX', 604800) == false then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'a', ARGV[3])
return 1
`

export class SimNetwork {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly clock: Clock,
  ) {
    if (!('tbSimAct' in redis)) {
      redis.defineCommand('tbSimAct', { numberOfKeys: 2, lua: RECORD_ACTION })
      redis.defineCommand('tbSimTakeFault', { numberOfKeys: 1, lua: TAKE_FAULT })
    }
  }

  /** Delivers a message to the session as WhatsApp would; returns the domain event it becomes. */
  async injectMessage(sessionId: string, input: SimMessageInput): Promise<Record<string, unknown>> {
    const m = simMessageInputSchema.parse(input)
    const event = {
      type: 'message',
      sessionId,
      key: {
        remoteJid: m.chatId,
        fromMe: m.fromMe,
        id: m.id ?? simMessageId(),
        ...(m.participant ? { participant: m.participant } : {}),
      },
      ...(m.chatIdAlt ? { chatJidAlt: m.chatIdAlt } : {}),
      timestamp: m.timestamp ?? this.clock.now(),
      text: m.text,
      ...(m.pushName ? { pushName: m.pushName } : {}),
      origin: m.origin ?? (m.fromMe ? 'phone' : 'customer'),
      delivery: 'live',
    }
    await this.injectEvent(sessionId, event)
    return event
  }

  /** Any raw event (a read on the phone, a LID mapping, …), validated later by the ingestor like real ones. */
  async injectEvent(sessionId: string, event: unknown): Promise<string> {
    // Capped like a real server's offline queue; far above what a consumer falls behind by.
    return (await this.redis.xadd(
      this.keys.simInbound(sessionId),
      'MAXLEN',
      '~',
      INBOUND_KEEP,
      '*',
      'e',
      JSON.stringify(event),
    )) as string
  }

  /**
   * Records what the service did. With an idempotency key, a repeat of the same action is applied once,
   * as WhatsApp applies a repeated receipt or chat modification once (one atomic script).
   */
  async recordAction(sessionId: string, action: SimAction, idempotencyKey?: string): Promise<boolean> {
    const payload = JSON.stringify({ ...action, at: this.clock.now() })
    const applied = await (
      this.redis as Redis & { tbSimAct: (...a: Array<string | number>) => Promise<number> }
    ).tbSimAct(
      this.keys.simActions(sessionId),
      `${this.keys.simActions(sessionId)}:applied:${idempotencyKey ?? ''}`,
      idempotencyKey ? '1' : '0',
      ACTIONS_KEEP,
      payload,
    )
    return applied === 1
  }

  /**
   * Makes the next `times` chat modifications of the session fail with `fault` (e.g. WhatsApp's "App
   * state key not present" before the phone has synced its keys).
   */
  async injectFault(sessionId: string, fault: SimFault, times: number): Promise<void> {
    await this.redis.hincrby(`${this.keys.simActions(sessionId)}:faults`, fault, times)
  }

  /** Consumes one pending fault of this kind; true when the action must fail with it. */
  async takeFault(sessionId: string, fault: SimFault): Promise<boolean> {
    const r = (this.redis as Redis & { tbSimTakeFault: (k: string, f: string) => Promise<number> })
      .tbSimTakeFault
    return (await r.call(this.redis, `${this.keys.simActions(sessionId)}:faults`, fault)) === 1
  }

  // --- pairing -------------------------------------------------------------------------------------
  // A simulated number is linked unless it was logged out (or unlinked here): the demo's and tests'
  // sessions work at once, and a logout leads to pairing as with a real phone.

  private unlinkedKey(sessionId: string): string {
    return `${this.keys.simInbound(sessionId)}:unlinked`
  }

  /** Where a "phone" puts what it scanned or typed, for the session's pairing wait. */
  pairingInbox(sessionId: string): string {
    return `${this.keys.simInbound(sessionId)}:pairing`
  }

  async isLinked(sessionId: string): Promise<boolean> {
    return (await this.redis.exists(this.unlinkedKey(sessionId))) === 0
  }

  async setLinked(sessionId: string, linked: boolean): Promise<void> {
    if (linked) await this.redis.del(this.unlinkedKey(sessionId))
    else await this.redis.set(this.unlinkedKey(sessionId), '1')
  }

  /**
   * A phone scans a QR code shown for the session (WhatsApp > Linked devices > Link a device). Only the
   * QR the session shows now links it; an older one is ignored, as WhatsApp refuses a rotated ref.
   */
  async scanQr(sessionId: string, qr: string): Promise<void> {
    await this.toPairingInbox(sessionId, `qr:${qr}`)
  }

  /** A phone types the pairing code the session asked for ("Link with phone number instead"). */
  async enterPairingCode(sessionId: string, code: string): Promise<void> {
    await this.toPairingInbox(sessionId, `code:${code}`)
  }

  private async toPairingInbox(sessionId: string, entry: string): Promise<void> {
    const key = this.pairingInbox(sessionId)
    await this.redis.multi().rpush(key, entry).expire(key, 300).exec()
  }

  /** What the service did to WhatsApp, oldest first; `after` is the `seq` of the last action already seen. */
  async actions(
    sessionId: string,
    opts: { after?: string; limit?: number } = {},
  ): Promise<RecordedSimAction[]> {
    const start = opts.after ? `(${opts.after}` : '-'
    const rows = await this.redis.xrange(
      this.keys.simActions(sessionId),
      start,
      '+',
      'COUNT',
      opts.limit ?? 1000,
    )
    return rows.map(([seq, fields]) => ({
      ...(JSON.parse(fields[1]!) as SimAction & { at: number }),
      seq,
      sessionId,
    }))
  }
}
