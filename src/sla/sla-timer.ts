import { catalog, type JobProducer } from '../../jobs/catalog.js'
import type { PlannedLevel } from './policy.js'
import type { SlaClock } from './sla-store.js'

/**
 * Schedules one level of a clock as its delayed `sla-level` job, due at the level's instant. The job id
 * is deterministic (session, chat, period, level), so the planner re-arming after a redelivery and the
 * level before it chaining to it add one job between them.
 */
export async function armLevel(
  jobs: JobProducer,
  clock: Pick<SlaClock, 'sessionId' | 'chatJid' | 'waitSeq' | 'policyId' | 'waitingSince'>,
  level: PlannedLevel,
  now: number,
): Promise<void> {
  const { sessionId, chatJid, waitSeq, policyId, waitingSince } = clock
  await jobs.add(
    catalog.slaLevel,
    { sessionId, chatJid, waitSeq, level: level.level, policyId, dueAt: level.dueAt, waitingSince },
    {
      sessionId,
      key: { sessionId, chatJid, waitSeq, level: level.level },
      delay: Math.max(0, level.dueAt - now),
    },
  )
}
