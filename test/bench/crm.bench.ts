import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { systemClock } from '../../src/clock.js'
import { ContactCache } from '../../src/crm/hubspot/contact-cache.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { createServices } from '../../src/services.js'
import { startCrmWorker } from '../../src/worker/crm-worker.js'
import { type HubSpotStandIn, STANDIN_TOKEN, startHubSpotStandIn } from '../hubspot-standin/server.js'
import { type Benchmark, figure, percentile, rng } from './stats.js'

/**
 * "crm": WhatsApp messages at a steady rate over many contacts, synced to the HubSpot stand-in by the
 * real flusher (job scheduler + worker, shared budget, debounce window from the rules). Reports counter
 * changes per HubSpot call and the delay from a message's ingest to the contact property showing it.
 * Baseline (the naive approach): one contact update call per change, i.e. 1 change per call.
 */
const RATE = 1000
const CONTACTS = 1000
const DEBOUNCE = '5s'

interface CrmRun {
  messages: number
  calls: number
  delays: number[]
  rejected: number
}

export const crmBenchmark: Benchmark<CrmRun> = {
  name: 'crm',
  description: `${RATE} messages/s over ${CONTACTS} contacts, synced to a local HubSpot stand-in`,
  defaultRuns: 3,
  async runOnce(ctx) {
    const seconds = ctx.seconds ?? 20
    const hs: HubSpotStandIn = await startHubSpotStandIn({ limits: { perTenSeconds: 100 } })
    const rulesPath = join(await mkdtemp(join(tmpdir(), 'tb-bench-crm-')), 'rules.yaml')
    await writeFile(
      rulesPath,
      `version: 1\norgs: [{ id: o }]\nsessions: [{ id: s1, org: o }]\ncounters: { crmSync: { debounce: ${DEBOUNCE} } }\n`,
    )
    const env = parseEnv({
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      TICKBRIDGE_PREFIX: ctx.prefix,
      HUBSPOT_ACCESS_TOKEN: STANDIN_TOKEN,
      HUBSPOT_BASE_URL: hs.url,
    })
    const s = await createServices({
      env,
      log: createLogger({ level: 'silent' }),
      clock: systemClock,
      rulesPath,
      watchRules: false,
      redis: ctx.redis,
    })
    const phones = Array.from({ length: CONTACTS }, (_, i) => `4930${String(2_000_000 + i)}`)
    const ids = phones.map((p) => hs.addContact({ properties: { phone: `+${p}` } }).id)
    // Known contacts (lookups are cached in production after the first search).
    await new ContactCache(ctx.redis, s.keys, systemClock).remember(phones.map((p, i) => [p, ids[i]!]))
    const crm = await startCrmWorker(s)
    hs.clearRequests()
    const rand = rng(ctx.seed + ctx.run)
    // Per contact: when each successive unanswered count was reached by an ingest.
    const reached = new Map<string, number[]>()
    const started = Date.now()
    const total = RATE * seconds
    ctx.progress(`crm: ${total} messages at ${RATE}/s`)
    for (let n = 0; n < total; n++) {
      const due = started + (n * 1000) / RATE
      const wait = due - Date.now()
      if (wait > 2) await new Promise((r) => setTimeout(r, wait))
      const i = Math.floor(rand() * CONTACTS)
      const r = await s.ingestor.ingest({
        type: 'message',
        sessionId: 's1',
        key: { remoteJid: `${phones[i]}@s.whatsapp.net`, fromMe: false, id: `B${n}` },
        timestamp: Date.now(),
        text: 'hi',
        origin: 'customer',
      })
      if (!r.ok || !r.transition) throw new Error('ingest failed')
      const list = reached.get(ids[i]!) ?? []
      list[r.transition.unanswered] = Date.now()
      reached.set(ids[i]!, list)
    }
    // Wait for the last window to flush: every contact shows its final count.
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline && (await s.hubspot!.dirty.pending()) > 0)
      await new Promise((r) => setTimeout(r, 200))
    await crm?.close()
    // Propagation: each count reached shows up with the first batch write carrying a count >= it.
    const delays: number[] = []
    const shown = new Map<string, number>()
    let calls = 0
    let rejected = 0
    for (const req of hs.requests) {
      if (req.path !== '/crm/v3/objects/contacts/batch/update') continue
      if (req.status !== 200 && req.status !== 207) {
        rejected++
        continue
      }
      calls++
      for (const input of (req.body as { inputs: Array<{ id: string; properties: Record<string, string> }> })
        .inputs) {
        const count = Number(input.properties.wa_unanswered_count)
        const from = (shown.get(input.id) ?? 0) + 1
        const times = reached.get(input.id) ?? []
        for (let c = from; c <= count; c++) if (times[c]) delays.push(req.at - times[c]!)
        shown.set(input.id, Math.max(shown.get(input.id) ?? 0, count))
      }
    }
    await s.close()
    await hs.close()
    return { messages: total, calls, delays, rejected }
  },
  report(runs) {
    return {
      ratePerSec: RATE,
      contacts: CONTACTS,
      debounce: DEBOUNCE,
      ours: {
        changesPerCall: figure(
          runs.map((r) => r.messages / Math.max(1, r.calls)),
          1,
        ),
        batchCalls: figure(
          runs.map((r) => r.calls),
          0,
        ),
        propagationP50Ms: figure(
          runs.map((r) => percentile(r.delays, 50)),
          0,
        ),
        propagationP99Ms: figure(
          runs.map((r) => percentile(r.delays, 99)),
          0,
        ),
        rejectedCalls: figure(
          runs.map((r) => r.rejected),
          0,
        ),
      },
      baseline: { what: 'the naive approach: one contact update per change', changesPerCall: 1 },
      notes:
        'Propagation = HubSpot stand-in arrival of the first batch/update showing a count minus the ingest that reached it; it is dominated by the debounce window by design.',
    }
  },
}
