import { pino } from 'pino'
import { ManualClock } from '../../src/clock.js'
import { Ingestor, type IngestRules } from '../../src/inbox/ingest.js'
import { InboxStore } from '../../src/inbox/store.js'
import { createMetrics } from '../../src/metrics.js'
import { T0 } from './events.js'
import { testRedis } from './redis.js'

/** A real InboxStore + Ingestor on the test Redis under a private prefix. */
export function inboxFixture(label: string, rules: Partial<IngestRules> = {}) {
  const r = testRedis(label)
  const clock = new ManualClock(T0)
  const store = new InboxStore(r.redis, r.keys)
  const metrics = createMetrics()
  const lines: string[] = []
  const log = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) })
  const fullRules: IngestRules = {
    hasSession: () => true,
    defaultOwnerOf: () => 'u-anna',
    botRepliesCount: () => true,
    ...rules,
  }
  const ingestor = new Ingestor({ store, rules: () => fullRules, clock, log, metrics })
  return { ...r, clock, store, metrics, ingestor, logLines: lines }
}
