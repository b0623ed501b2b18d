import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { SLA_SHARDS, slaQueueName } from '../../src/queues.js'
import { createRedis } from '../../src/redis.js'
import { createServices, type Services } from '../../src/services.js'
import { startWorker, type Worker } from '../../src/worker/worker.js'
import { type PrivateCluster, startPrivateCluster } from '../helpers/redis-servers.js'
import { runSoakInTest } from '../soak/in-test.js'

/**
 * Redis Cluster: a local 3-master cluster (redis-server on loopback ports, `redis-cli --cluster create`).
 * The core paths run on it in one process, then a short soak with worker processes.
 */
let cluster: PrivateCluster
let s: Services
let worker: Worker
const SESSIONS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']

beforeAll(async () => {
  cluster = await startPrivateCluster(3)
  const rulesPath = join(await mkdtemp(join(tmpdir(), 'tb-cluster-')), 'rules.yaml')
  await writeFile(
    rulesPath,
    [
      'version: 1',
      'orgs: [{ id: o }]',
      `sessions: [${SESSIONS.map((id) => `{ id: ${id}, org: o, defaultOwner: u1 }`).join(', ')}]`,
      'users: [{ id: u1, org: o, role: agent }, { id: boss, org: o, role: supervisor, supervises: [u1] }]',
      'seen: { defaults: { policy: auto, delay: { baseMin: 100ms, baseMax: 200ms, max: 1s } } }',
      'sla: { policies: [{ id: p, firstResponse: 2s, levels: [{ after: 1s, actions: [{ setState: warning }] }] }] }',
    ].join('\n'),
  )
  const env = parseEnv({
    REDIS_URL: cluster.url,
    REDIS_CLUSTER: 'true',
    TICKBRIDGE_PREFIX: 'tbc',
    WA_TRANSPORT: 'sim',
  })
  s = await createServices({
    env,
    log: createLogger({ level: 'silent' }),
    clock: systemClock,
    rulesPath,
    watchRules: false,
  })
  worker = await startWorker(s, { timings: { tickMs: 200, leaseMs: 2000, workerTtlMs: 1000 } })
}, 60_000)

afterAll(async () => {
  await worker?.close()
  await s?.close()
  await cluster?.stop()
})

describe('on a 3-master Redis Cluster', () => {
  it('spreads sessions and SLA shards over the masters', async () => {
    const probe = createRedis(cluster.url, { cluster: true })
    const nodeOf = async (key: string) => {
      const slot = (await probe.call('CLUSTER', 'KEYSLOT', key)) as number
      const slots = (await probe.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>
      return slots.find(([a, b]) => slot >= a && slot <= b)![2][1]
    }
    const sessionNodes = new Set(await Promise.all(SESSIONS.map((sid) => nodeOf(s.keys.chatsIndex(sid)))))
    const slaNodes = new Set(
      await Promise.all(Array.from({ length: SLA_SHARDS }, (_, i) => nodeOf(`tbc:${slaQueueName(i)}:wait`))),
    )
    probe.disconnect()
    expect(sessionNodes.size).toBeGreaterThan(1)
    expect(slaNodes.size).toBe(3)
  })

  it('runs the core paths: ingest, counters, overview, receipts, SLA, reminders', async () => {
    await expect
      .poll(async () => (await Promise.all(SESSIONS.map((x) => s.statuses.get(x)))).map((r) => r.status), {
        timeout: 20_000,
      })
      .toEqual(SESSIONS.map(() => 'WORKING'))
    const ids: string[] = []
    for (const [i, sid] of SESSIONS.entries()) {
      for (let n = 0; n < 3; n++) {
        const e = await s.sim!.injectMessage(sid, { chatId: `49151000${i}${n}@s.whatsapp.net`, text: 'hi' })
        ids.push((e.key as { id: string }).id)
      }
    }
    // Ingested by the worker, counted per chat and per user across all shards.
    await expect
      .poll(async () => (await s.inbox.unansweredOf(SESSIONS, ['u1'])).get('u1'), { timeout: 10_000 })
      .toBe(18)
    const page = await s.inbox.overview('c1', { limit: 10, filter: 'unanswered' })
    expect(page.items.map((c) => c.unanswered)).toEqual([1, 1, 1])
    // Every message gets its read receipt.
    await expect
      .poll(
        async () => {
          const read = []
          for (const sid of SESSIONS)
            for (const a of await s.sim!.actions(sid))
              if (a.kind === 'read') read.push(...a.keys.map((k) => k.id))
          return read.sort()
        },
        { timeout: 15_000 },
      )
      .toEqual([...ids].sort())
    // The SLA level fires on every session's shard.
    const firstChat = (i: number) => `49151000${i}0@s.whatsapp.net`
    await expect
      .poll(
        async () => Promise.all(SESSIONS.map(async (sid, i) => (await s.sla.get(sid, firstChat(i)))?.state)),
        {
          timeout: 10_000,
        },
      )
      .toEqual(SESSIONS.map(() => 'warning'))
    // A reminder fires through the session's queue.
    const r = await s.reminders.create('c1', firstChat(0), { dueAt: Date.now() + 300 })
    await expect
      .poll(async () => (await s.reminderStore.get('c1', r.id))?.status, { timeout: 10_000 })
      .toBe('done')
  }, 60_000)

  it('passes a short soak with worker processes and a kill', async () => {
    const report = await runSoakInTest({
      sessions: 6,
      chats: 200,
      rate: 60,
      seconds: 30,
      workers: 2,
      killEvery: 15,
      slaLevels: '8,20',
      cluster: true,
      drainTimeout: 90,
    })
    expect(Object.fromEntries(Object.entries(report.invariants).map(([k, v]) => [k, v.examples]))).toEqual(
      Object.fromEntries(Object.keys(report.invariants).map((k) => [k, []])),
    )
    expect(report.ok).toBe(true)
    expect(report.invariants.receipts.checked).toBeGreaterThan(500)
  }, 240_000)
})
