import { createHash } from 'node:crypto'
import { DelayedError } from 'bullmq'
import type { Logger } from 'pino'
import type { Clock } from '../src/clock.js'
import type { Metrics } from '../src/metrics.js'
import type { ReceiptStore } from '../src/receipts/receipt-store.js'
import type { catalog, Processor } from './catalog.js'

/**
 * `seen-receipt`: the blue ticks for one chat's batch. A delayed job per chat and batch (id
 * `seen-<chat>-<gen>`, see jobs/catalog.ts) in the session's queue; at fire time it takes every key that
 * piled up and sends them in ONE readMessages call (group keys carry their participant, as received).
 */
export function seenReceiptProcessor(deps: {
  store: ReceiptStore
  clock: Clock
  metrics: Metrics
  log?: Logger
}): Processor<typeof catalog.seenReceipt> {
  return async ({ chatJid, gen }, job, { sessionId, session, token }) => {
    const claim = await deps.store.claim(sessionId, chatJid, gen, deps.clock.now())
    if ('laterAt' in claim) {
      // More messages joined after the job was already due: wait for their reading time too.
      await job.moveToDelayed(Date.now() + (claim.laterAt - deps.clock.now()), token)
      throw new DelayedError()
    }
    const { dueAt, entries } = claim
    if (entries.length === 0) return { sent: 0 }
    const ids = entries.map((e) => e.key.id)
    // The same batch always gets the same key, so a resend after a crash is recognisably the same receipt.
    const idempotencyKey = `seen/${sessionId}/${createHash('sha256')
      .update([...ids].sort().join(','))
      .digest('base64url')}`
    await session.readMessages(
      entries.map((e) => e.key),
      { idempotencyKey },
    )
    const now = deps.clock.now()
    await deps.store.done(sessionId, chatJid, ids, now)
    const m = deps.metrics
    m.receiptsSent.inc({ session: sessionId })
    m.receiptBatchSize.observe(entries.length)
    if (dueAt !== null) m.receiptLateness.observe(Math.max(0, now - dueAt) / 1000)
    for (const e of entries)
      m.timeToView.observe({ session: sessionId }, Math.max(0, now - e.arrivedAt) / 1000)
    deps.log?.info(
      { sessionId, chat: chatJid, messages: entries.length, lateMs: dueAt === null ? null : now - dueAt },
      'read receipt sent',
    )
    return { sent: entries.length, lateMs: dueAt === null ? null : now - dueAt }
  }
}
