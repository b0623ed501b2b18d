import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { SimNetwork } from '../../src/whatsapp/sim/network.js'
import { SessionStatusStore } from '../../src/whatsapp/status-store.js'
import { sessionQueueName } from '../../src/worker/session-queues.js'
import { pn } from '../helpers/events.js'
import { type Spawned, spawnWorker } from '../helpers/process.js'
import { testRedis } from '../helpers/redis.js'

const r = testRedis('receipts-crash')
const procs: Spawned[] = []
const queue = new Queue(sessionQueueName('crash-line'), { connection: r.redis, prefix: r.prefix })
afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL')
  await queue.close()
  await r.cleanup()
})

describe('a receipt due while its worker dies', () => {
  it('is sent exactly once by the next worker', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-receipts-crash-'))
    const rules = join(dir, 'rules.yaml')
    await writeFile(
      rules,
      [
        'version: 1',
        'orgs: [{ id: o }]',
        'sessions:',
        '  - id: crash-line',
        '    org: o',
        '    seen: { policy: auto, delay: { baseMin: 3s, baseMax: 3s, max: 6s, jitter: 0 } }',
        '',
      ].join('\n'),
    )
    const statuses = new SessionStatusStore(r.redis, r.keys, systemClock)
    const first = spawnWorker(rules, r.prefix)
    procs.push(first)
    await first.waitFor(/"msg":"session taken"/, 20_000)
    await vi.waitFor(async () => expect((await statuses.get('crash-line')).status).toBe('WORKING'), {
      timeout: 10_000,
    })

    const network = new SimNetwork(r.redis, r.keys, systemClock)
    const chat = pn(7001)
    const ids: string[] = []
    for (const text of ['Hello', 'I ordered a lamp', 'it arrived broken']) {
      const e = (await network.injectMessage('crash-line', { chatId: chat, text })) as { key: { id: string } }
      ids.push(e.key.id)
    }
    // The worker has planned the receipt (a delayed job): now it dies before the job is due.
    await vi.waitFor(async () => expect(await queue.getDelayedCount()).toBe(1), { timeout: 10_000 })
    first.child.kill('SIGKILL')
    await first.exited

    const second = spawnWorker(rules, r.prefix)
    procs.push(second)
    const reads = async () => (await network.actions('crash-line')).filter((a) => a.kind === 'read')
    const receipted = async () =>
      (await reads()).flatMap((a) => (a.kind === 'read' ? a.keys.map((k) => k.id) : [])).sort()
    await vi.waitFor(async () => expect(await receipted()).toEqual([...ids].sort()), {
      timeout: 30_000,
      interval: 200,
    })
    await vi.waitFor(
      async () => {
        const c = await queue.getJobCounts('delayed', 'wait', 'active')
        expect((c.delayed ?? 0) + (c.wait ?? 0) + (c.active ?? 0)).toBe(0)
      },
      { timeout: 10_000 },
    )
    // Each message exactly once. Usually in one receipt; two when the overdue job ran on the new worker
    // before it had read the messages the dead one never got to (they then open the next batch).
    expect(await receipted()).toEqual([...ids].sort())
    expect((await reads()).length).toBeLessThanOrEqual(2)
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 60_000)
})
