import type { Ingestor } from '../inbox/ingest.js'
import type { InboxStore } from '../inbox/store.js'
import type { Metrics } from '../metrics.js'

export type ResetTrigger = 'api' | 'schedule'

export interface ResetDeps {
  inbox: InboxStore
  ingestor: Ingestor
  metrics: Metrics
}

export interface ResetRequest {
  sessionIds: readonly string[]
  /** Only chats this CRM user owns (unassigned chats are nobody's and stay). */
  owner?: string
  /** Customer messages up to this instant count as answered; later ones keep waiting. */
  at: number
  trigger: ResetTrigger
}

export interface ResetResult {
  /** Chats that had waiting messages cleared. */
  chats: number
  /** Customer messages no longer counted as unanswered. */
  messages: number
}

/** Chats reset at the same time per session: enough to keep Redis busy, bounded for huge inboxes. */
const IN_FLIGHT = 32

/**
 * Resets the unanswered counters of the given sessions, one `counters.reset` event per waiting chat
 * through the Ingestor, so every listener (SLA clocks, CRM sync) sees each chat's own transition. With
 * `owner`, each chat is cleared only if that user owns it when its event is applied (atomic per chat).
 * Idempotent: running it again with the same `at` clears nothing more.
 */
export async function resetUnanswered(deps: ResetDeps, req: ResetRequest): Promise<ResetResult> {
  const result: ResetResult = { chats: 0, messages: 0 }
  for (const sessionId of req.sessionIds) {
    const jids = await deps.inbox.unansweredChats(sessionId)
    await forEachLimited(jids, IN_FLIGHT, async (chatJid) => {
      const out = await deps.ingestor.ingest({
        type: 'counters.reset',
        sessionId,
        chatJid,
        at: req.at,
        ...(req.owner ? { owner: req.owner } : {}),
      })
      if (!out.ok || !out.transition) return
      const cleared = (out.transition.clearedFrom ?? 0) - out.transition.unanswered
      if (cleared > 0) {
        result.chats++
        result.messages += cleared
      }
    })
  }
  deps.metrics.counterResets.inc({ trigger: req.trigger })
  return result
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}
