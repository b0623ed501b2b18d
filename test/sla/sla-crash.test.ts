import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { createServices, type Services } from '../../src/services.js'
import { pn } from '../helpers/events.js'
import { type Spawned, spawnWorker } from '../helpers/process.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'

const r = testRedis('sla-crash')
const procs: Spawned[] = []
let s: Services | undefined
afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL')
  await s?.close()
  await r.cleanup()
})

describe('SLA timers across a worker crash', () => {
  it('a killed worker: each level still fires exactly once, at or after its due time', async () => {
    const rules = join(await mkdtemp(join(tmpdir(), 'tb-sla-crash-')), 'rules.yaml')
    await writeFile(
      rules,
      `version: 1
orgs: [{ id: o }]
sessions: [{ id: desk, org: o }]
sla:
  policies:
    - id: p
      firstResponse: 3s
      levels:
        - { after: 2s, actions: [{ setState: warning }] }
        - { after: 3s, actions: [{ setState: breached }] }
        - { after: 4s, actions: [{ markUnread: true }] }
`,
    )
    s = await createServices({
      env: parseEnv({ REDIS_URL, TICKBRIDGE_PREFIX: r.prefix, WA_TRANSPORT: 'sim' }),
      log: createLogger({ level: 'silent' }),
      clock: systemClock,
      rulesPath: rules,
      watchRules: false,
    })
    const first = spawnWorker(rules, r.prefix)
    procs.push(first)
    await first.waitFor(/"msg":"session taken"/, 20_000)
    const chat = pn(9601)
    await s.ingestor.ingest({
      type: 'message',
      sessionId: 'desk',
      key: { remoteJid: chat, fromMe: false, id: 'CRASH1' },
      timestamp: Date.now(),
      text: 'Where is my parcel?',
      origin: 'customer',
    })
    expect(await s.sla.get('desk', chat)).not.toBeNull()
    first.child.kill('SIGKILL')
    await first.exited
    const second = spawnWorker(rules, r.prefix)
    procs.push(second)
    const fired = async () => (await s!.sla.events('o', { limit: 100, sessionId: 'desk' })).items
    await vi.waitFor(async () => expect(await fired()).toHaveLength(3), { timeout: 30_000, interval: 200 })
    await vi.waitFor(async () => {
      const c = await s!.queues.slaFor('desk').getJobCounts('delayed', 'wait', 'active')
      expect((c.delayed ?? 0) + (c.wait ?? 0) + (c.active ?? 0)).toBe(0)
    })
    const log = await fired()
    expect(log.map((e) => e.level)).toEqual([0, 1, 2])
    for (const e of log) expect(e.firedAt).toBeGreaterThanOrEqual(e.dueAt)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 60_000)
})
