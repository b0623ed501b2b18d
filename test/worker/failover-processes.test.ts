import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { catalog } from '../../jobs/catalog.js'
import { systemClock } from '../../src/clock.js'
import { Keys } from '../../src/keys.js'
import { SimNetwork } from '../../src/whatsapp/sim/network.js'
import { SessionStatusStore } from '../../src/whatsapp/status-store.js'
import { LeaseStore } from '../../src/worker/lease.js'
import { sessionQueueName } from '../../src/worker/session-queues.js'
import { pn } from '../helpers/events.js'
import { type Spawned, spawnWorker } from '../helpers/process.js'
import { testRedis } from '../helpers/redis.js'

/**
 * Three real worker processes share 30 sim sessions. One is killed with SIGKILL: its sessions must be
 * WORKING in the survivors within 30 s, and every queued action must reach WhatsApp exactly once.
 */
const r = testRedis('failover')
const prefix = r.prefix
const keys = new Keys(prefix)
const SESSIONS = Array.from({ length: 30 }, (_, i) => `fo-${i}`)
const procs: Spawned[] = []
const queues = SESSIONS.map((sid) => new Queue(sessionQueueName(sid), { connection: r.redis, prefix }))

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL')
  await Promise.all(queues.map((q) => q.close()))
  await r.cleanup()
})

describe('sessions across worker processes', () => {
  it('survives kill -9 of a worker: sessions move within 30 s, no action lost or repeated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-failover-'))
    const rules = join(dir, 'rules.yaml')
    await writeFile(
      rules,
      `version: 1\norgs: [{ id: o }]\nsessions:\n${SESSIONS.map((s) => `  - { id: ${s}, org: o }`).join('\n')}\n`,
    )
    for (let i = 0; i < 3; i++) procs.push(spawnWorker(rules, prefix))
    const workerIds = await Promise.all(
      procs.map(
        async (p) => JSON.parse(await p.waitFor(/"msg":"worker started"/, 20_000)).workerId as string,
      ),
    )

    const leases = new LeaseStore(r.redis, keys)
    const statuses = new SessionStatusStore(r.redis, keys, systemClock)
    const placement = async () =>
      new Map(await Promise.all(SESSIONS.map(async (s) => [s, await statuses.get(s)] as const)))

    // Every session WORKING, held by exactly one live process (its lease and its status agree).
    await vi.waitFor(
      async () => {
        for (const [sid, st] of await placement()) {
          expect(st.status).toBe('WORKING')
          expect(workerIds).toContain(st.holder)
          expect((await leases.holderOf(sid))?.holder).toBe(st.holder)
        }
      },
      { timeout: 20_000, interval: 200 },
    )
    const before = await placement()
    const victim = workerIds.find((w) => [...before.values()].some((s) => s.holder === w))!
    const victimProc = procs[workerIds.indexOf(victim)]!
    const moved = [...before].filter(([, s]) => s.holder === victim).map(([sid]) => sid)
    expect(moved.length).toBeGreaterThan(0)

    const jobsFor = (round: number) =>
      SESSIONS.flatMap((sid, i) =>
        Array.from({ length: 4 }, (_, k) => ({
          sid,
          id: `r${round}-${i}-${k}`,
          jid: pn(100_000 + round * 1000 + i * 10 + k),
        })),
      )
    const add = (jobs: ReturnType<typeof jobsFor>) =>
      Promise.all(
        jobs.map((j) =>
          queues[SESSIONS.indexOf(j.sid)]!.add(
            catalog.sessionAction.name,
            { action: 'presence', jid: j.jid, state: 'composing' },
            { jobId: j.id },
          ),
        ),
      )
    const round1 = jobsFor(1)
    await add(round1)

    const killedAt = Date.now()
    victimProc.child.kill('SIGKILL')
    await victimProc.exited
    const round2 = jobsFor(2)
    await add(round2)

    const live = workerIds.filter((w) => w !== victim)
    await vi.waitFor(
      async () => {
        const now = await placement()
        for (const sid of moved) {
          expect(now.get(sid)?.status).toBe('WORKING')
          expect(live).toContain(now.get(sid)?.holder)
        }
      },
      { timeout: 30_000, interval: 200 },
    )
    const recoveryMs = Date.now() - killedAt
    expect(recoveryMs).toBeLessThan(30_000)

    await vi.waitFor(
      async () => {
        const counts = await Promise.all(
          queues.map((q) => q.getJobCounts('wait', 'active', 'delayed', 'failed')),
        )
        expect(
          counts.reduce(
            (n, c) => n + (c.wait ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) + (c.failed ?? 0),
            0,
          ),
        ).toBe(0)
      },
      { timeout: 30_000, interval: 250 },
    )
    const network = new SimNetwork(r.redis, keys, systemClock)
    for (const sid of SESSIONS) {
      const acts = await network.actions(sid)
      const seen = acts.map((a) => (a.kind === 'presence' ? a.jid : '?'))
      const expected = [...round1, ...round2].filter((j) => j.sid === sid).map((j) => j.jid)
      expect(seen).toEqual(expected)
    }

    for (const p of procs) if (p !== victimProc) p.child.kill('SIGTERM')
    const codes = await Promise.all(procs.filter((p) => p !== victimProc).map((p) => p.exited))
    expect(codes).toEqual([0, 0])
    // After a graceful stop every lease is released.
    for (const sid of SESSIONS) expect(await leases.holderOf(sid)).toBeNull()
    console.info(JSON.stringify({ failover: { sessionsMoved: moved.length, recoveryMs } }))
  }, 90_000)
})
