import type { ConnectionOptions } from 'bullmq'
import type { Logger } from 'pino'
import { catalog, type JobProducer } from '../../jobs/catalog.js'
import type { Clock } from '../clock.js'
import type { InboxEvent, MessageKey } from '../domain/events.js'
import type { ChatTransition } from '../inbox/chat.js'
import type { Rules } from '../rules/compile.js'
import { countWords, planDelay, readingTimeMs } from './delay-model.js'
import type { EnqueueResult, PendingEntry, ReceiptStore } from './receipt-store.js'

export interface PlannedReceipt {
  chatJid: string
  messageIds: string[]
  plannedAt: number
}

/**
 * Decides when customer messages get their blue ticks. Listens to the inbox: under the `auto` policy a
 * customer message joins its chat's pending batch (one delayed job per chat); a read on the phone drops
 * the batch; a reply from our side reads the chat first. The API asks for receipts explicitly.
 */
export class ReceiptPlanner {
  constructor(
    private readonly deps: {
      store: ReceiptStore
      jobs: JobProducer
      rules: () => Rules
      clock: Clock
      log: Logger
      /** Random source of the delay model; tests and the dry-run pass a seeded one. */
      rand?: () => number
    },
  ) {}

  /** Inbox listener (Ingestor.onApplied). */
  readonly onApplied = async (event: InboxEvent, t: ChatTransition | null): Promise<void> => {
    if (!t) return
    const policy = this.deps.rules().seenPolicyFor(event.sessionId)
    if (!policy || policy.policy === 'off') return
    const sid = event.sessionId
    if (event.type === 'message' && !event.key.fromMe) {
      // Nobody could have read what did not decrypt: its receipt waits for the content (same key, which
      // arrives as a live duplicate and is planned then).
      if (event.undecrypted) return
      await this.onCustomerMessage(sid, t.jid, event, policy.policy === 'auto')
    } else if (
      event.type === 'message' &&
      event.key.fromMe &&
      event.origin !== 'phone' &&
      // A greeting/away message is the Business app's, sent without anyone reading.
      event.origin !== 'auto' &&
      policy.markSeenBeforeReply
    ) {
      // A reply from our side (bot, CRM, API): a person reads before answering.
      const r = await this.deps.store.scheduleWithin(sid, t.jid, {
        now: this.deps.clock.now(),
        delayMs: 0,
        maxMs: policy.delay.max,
      })
      if (r) await this.schedule(sid, t.jid, r)
    } else if (event.type === 'chat.read' && event.source === 'whatsapp') {
      // A person read the chat on a device: what arrived up to then needs no receipt from us. Our own
      // reads (`self`, `api`) never cancel anything.
      await this.cancel(sid, t.jid, event.at)
    }
  }

  private async onCustomerMessage(
    sid: string,
    chat: string,
    e: Extract<InboxEvent, { type: 'message' }>,
    auto: boolean,
  ): Promise<void> {
    const now = this.deps.clock.now()
    const params = this.deps.rules().seenPolicyFor(sid)!.delay
    const entry: PendingEntry = {
      key: e.key,
      timestamp: e.timestamp,
      arrivedAt: now,
      ...(e.text ? { words: countWords(e.text) } : {}),
      ...(e.media ? { media: true } : {}),
    }
    const msg = { ...(e.text ? { text: e.text } : {}), media: Boolean(e.media), timestamp: e.timestamp }
    const first = planDelay({ messages: [msg], now, rand: this.deps.rand ?? Math.random, params })
    const backlog = first.reason === 'backlog'
    const result = await this.deps.store.enqueue(sid, chat, entry, {
      now,
      firstDelayMs: first.delayMs,
      extendMs: backlog ? 0 : Math.round(readingTimeMs(msg, params) * (1 - params.batchDiscount)),
      maxMs: params.max,
      schedule: auto,
    })
    await this.schedule(sid, chat, result)
  }

  /**
   * Receipts asked for through the API: the given message ids (or everything pending in the chat), now
   * (`none`) or after a human delay (`human`). Returns null when there is nothing to receipt.
   */
  async request(
    sid: string,
    chat: string,
    opts: { messageIds?: string[]; participant?: string; delay: 'human' | 'none' },
  ): Promise<PlannedReceipt | null> {
    const now = this.deps.clock.now()
    const params = this.deps.rules().seenPolicyFor(sid)!.delay
    const pending = await this.deps.store.pending(sid, chat)
    let entries = pending
    if (opts.messageIds) {
      const byId = new Map(pending.map((p) => [p.key.id, p]))
      entries = opts.messageIds.map(
        (id) =>
          byId.get(id) ?? {
            key: {
              remoteJid: chat,
              fromMe: false,
              id,
              ...(opts.participant ? { participant: opts.participant } : {}),
            } as MessageKey,
            timestamp: now,
            arrivedAt: now,
          },
      )
      for (const e of entries) if (!byId.has(e.key.id)) await this.deps.store.remember(sid, chat, e)
    }
    if (entries.length === 0) return null
    const delayMs =
      opts.delay === 'none'
        ? 0
        : planDelay({ messages: entries, now, rand: this.deps.rand ?? Math.random, params }).delayMs
    const r = await this.deps.store.scheduleWithin(sid, chat, {
      now,
      delayMs,
      maxMs: params.max,
      ...(opts.messageIds ? { ids: opts.messageIds } : {}),
    })
    if (!r || r.kind === 'duplicate' || r.kind === 'remembered') return null
    await this.schedule(sid, chat, r)
    return { chatJid: chat, messageIds: entries.map((e) => e.key.id), plannedAt: r.dueAt }
  }

  /**
   * Makes sure the batch's job is in the session queue, and moves its due time when the batch grew.
   * Adding is idempotent by job id: for a batch already scheduled it changes nothing, unless the job was
   * lost with a worker killed between the batch's Lua step and this add; then it is created now.
   */
  private async schedule(sid: string, chat: string, r: EnqueueResult): Promise<void> {
    if (r.kind !== 'new' && r.kind !== 'moved' && r.kind !== 'scheduled') return
    const delay = Math.max(0, r.dueAt - this.deps.clock.now())
    const batch = { chatJid: chat, gen: r.gen }
    const job = await this.deps.jobs.add(catalog.seenReceipt, batch, { sessionId: sid, key: batch, delay })
    // No longer delayed (BullMQ already promoted it): its claim sees the later due time and waits.
    if (r.kind === 'moved') await job.changeDelay(delay).catch(() => {})
  }

  private async cancel(sid: string, chat: string, upTo: number): Promise<void> {
    const gen = await this.deps.store.cancel(sid, chat, upTo)
    if (gen === null) return
    await this.deps.jobs.remove(catalog.seenReceipt, { chatJid: chat, gen }, { sessionId: sid })
    this.deps.log.debug({ sessionId: sid, chat }, 'pending receipt dropped: the chat was read elsewhere')
  }
}

export type { ConnectionOptions }
