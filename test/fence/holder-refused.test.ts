import { pino } from 'pino'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { leaseEpochKey, unlessRefused } from '../../src/fence/fence.js'
import { compileRules } from '../../src/rules/compile.js'
import { rulesSchema } from '../../src/rules/schema.js'
import { SimNetwork } from '../../src/whatsapp/sim/network.js'
import { SimTransport } from '../../src/whatsapp/sim/transport.js'
import { SessionStatusStore } from '../../src/whatsapp/status-store.js'
import { LeaseStore } from '../../src/worker/lease.js'
import { SessionOwnership } from '../../src/worker/ownership.js'
import { pn } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

/**
 * The holder side of fencing (issue 24, fault 2): a holder that has not noticed it lost the session (its
 * fencing deadline not reached yet, as after a pause) learns it from the first write Redis refuses, closes
 * its socket and says why once; its status write on the way out is refused too.
 */
const t = inboxFixture('holder-refused')
const SID = 'refused'
const log: string[] = []
const logger = pino({ level: 'info' }, { write: (l: string) => log.push(l) })
const rules = compileRules(
  rulesSchema.parse({ version: 1, orgs: [{ id: 'o' }], sessions: [{ id: SID, org: 'o' }] }),
)
const network = new SimNetwork(t.redis, t.keys, systemClock)
const leases = new LeaseStore(t.redis, t.keys)
const statuses = new SessionStatusStore(t.redis, t.keys, systemClock)
// Passes and fencing deadlines far away: only a refused write can stop the holder here.
const timings = { tickMs: 60_000, leaseMs: 240_000, workerTtlMs: 120_000 }
afterAll(() => t.cleanup())

describe('a holder whose write is refused', () => {
  it('closes its socket, logs why once, and leaves the successor’s status alone', async () => {
    // Wired as src/worker/worker.ts wires the transport and the sink.
    const ownership: SessionOwnership = new SessionOwnership({
      workerId: 'A',
      redis: t.redis,
      keys: t.keys,
      leases,
      transport: new SimTransport({
        redis: t.redis,
        keys: t.keys,
        network,
        log: logger,
        blockMs: 100,
        onStatus: (sid, status, extra) =>
          statuses.set(sid, status, { ...extra, holder: 'A' }, ownership.fenceOf(sid)).catch(unlessRefused),
      }),
      statuses,
      sink: async (event, fence) => {
        await t.ingestor.ingest(event, { fence })
      },
      log: logger,
      rules,
      timings,
      processors: {},
    })
    await ownership.start()
    await vi.waitFor(async () =>
      expect(await statuses.get(SID)).toMatchObject({ status: 'WORKING', holder: 'A' }),
    )
    const chat = pn(4711)
    await network.injectMessage(SID, { chatId: chat, text: 'first' })
    await vi.waitFor(async () => expect((await t.store.getChat(SID, chat))?.unanswered).toBe(1))

    // B takes the session behind A's back (A's lease ran out while A was paused).
    const epochA = ownership.fenceOf(SID)!.epoch
    await t.redis.set(`${t.keys.session(SID)}lease`, `B|${epochA + 1}`, 'PX', 60_000)
    await t.redis.set(leaseEpochKey(t.keys, SID), epochA + 1)
    await statuses.set(SID, 'WORKING', { holder: 'B' }, { epoch: epochA + 1 })

    // A's socket still delivers: its next event is refused, and A stops.
    await network.injectMessage(SID, { chatId: chat, text: 'second' })
    await vi.waitFor(() => expect(ownership.sessionIds()).toEqual([]), { timeout: 5000 })
    await network.injectMessage(SID, { chatId: chat, text: 'third' })

    expect(await statuses.get(SID)).toMatchObject({ status: 'WORKING', holder: 'B' })
    expect((await t.store.getChat(SID, chat))?.unanswered).toBe(1)
    const why = log.filter((l) => l.includes('stopping the socket'))
    expect(why).toHaveLength(1)
    expect(JSON.parse(why[0]!)).toMatchObject({ sessionId: SID, epoch: epochA, write: 'apply-message' })
    // A did not release B's lease on its way out.
    expect(await leases.holderOf(SID)).toEqual({ holder: 'B', epoch: epochA + 1 })
    await ownership.close()
    expect(await statuses.get(SID)).toMatchObject({ status: 'WORKING', holder: 'B' })
  }, 20_000)
})
