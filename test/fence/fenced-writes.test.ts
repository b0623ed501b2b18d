import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { type Fence, FenceRefusedError } from '../../src/fence/fence.js'
import { authKeys, useRedisAuthState } from '../../src/whatsapp/baileys/auth-state.js'
import { SessionStatusStore } from '../../src/whatsapp/status-store.js'
import { LeaseStore } from '../../src/worker/lease.js'
import { inbound, pn } from '../helpers/events.js'
import { inboxFixture } from '../helpers/inbox.js'

/**
 * Fencing of a holder's writes (issue 24, fault 2): every write a session's holder makes (status, creds,
 * Signal keys, the inbox state its WhatsApp events change) carries its lease epoch and is refused by the
 * script applying it once a newer holder took the session. A is the deposed holder, B its successor.
 */
const t = inboxFixture('fenced-writes')
const leases = new LeaseStore(t.redis, t.keys)
const statuses = new SessionStatusStore(t.redis, t.keys, systemClock)
afterAll(() => t.cleanup())

/** A took the session, stalled past its lease, and B took it over (a new epoch). */
async function deposed(): Promise<{ sid: string; a: Fence & { refusals: string[] }; b: Fence }> {
  const sid = `f-${randomBytes(3).toString('hex')}`
  const epochA = await leases.acquire(sid, 'A', 60_000)
  // A's lease runs out while A is stopped (SIGSTOP, a GC pause): nobody renews it.
  await t.redis.pexpire(`${t.keys.session(sid)}lease`, 1)
  await expect.poll(() => leases.holderOf(sid)).toBeNull()
  const epochB = await leases.acquire(sid, 'B', 60_000)
  expect(epochB).toBeGreaterThan(epochA)
  const refusals: string[] = []
  return {
    sid,
    a: { epoch: epochA, refusals, onRefused: (err) => refusals.push(err.write) },
    b: { epoch: epochB },
  }
}

/** The commands a connection sends while `work` runs (a script is one EVALSHA: one round trip). */
async function commandsDuring(redis: Redis, work: () => unknown): Promise<string[]> {
  const send = vi.spyOn(redis, 'sendCommand')
  try {
    await work()
    return send.mock.calls.map(([c]) => c.name)
  } finally {
    send.mockRestore()
  }
}

describe('a deposed holder cannot write over its successor', () => {
  it('status: the successor keeps WORKING, the deposed holder gets FenceRefusedError', async () => {
    const { sid, a, b } = await deposed()
    await statuses.set(sid, 'WORKING', { holder: 'B', detail: 'connected' }, b)
    await expect(statuses.set(sid, 'STOPPED', { holder: 'A', detail: 'lease lost' }, a)).rejects.toThrow(
      FenceRefusedError,
    )
    await expect(statuses.set(sid, 'FAILED', { holder: 'A' }, a)).rejects.toThrow(/no longer current/)
    expect(await statuses.get(sid)).toMatchObject({ status: 'WORKING', holder: 'B' })
    expect((await statuses.history(sid)).map((h) => h.holder)).toEqual(['B'])
    expect(a.refusals).toEqual(['status-set', 'status-set'])
    // Writers that hold no lease (the API, an operator) are never refused.
    await statuses.set(sid, 'FAILED', { detail: 'logged out by an operator' })
    expect((await statuses.get(sid)).status).toBe('FAILED')
  })

  it('creds: the successor’s creds stay', async () => {
    const { sid, a, b } = await deposed()
    const authA = await useRedisAuthState(t.redis, t.keys, sid, { fence: a })
    const authB = await useRedisAuthState(t.redis, t.keys, sid, { fence: b })
    authB.state.creds.nextPreKeyId = 31
    await authB.saveCreds()
    authA.state.creds.nextPreKeyId = 7
    await expect(authA.saveCreds()).rejects.toThrow(FenceRefusedError)
    const stored = await useRedisAuthState(t.redis, t.keys, sid)
    expect(stored.state.creds.nextPreKeyId).toBe(31)
    expect(stored.state.creds.noiseKey).toEqual(authB.state.creds.noiseKey)
    expect(a.refusals).toEqual(['creds-set'])
  })

  it('keys: a stale transaction changes no hash at all; wipe and clear are refused too', async () => {
    const { sid, a, b } = await deposed()
    const authA = await useRedisAuthState(t.redis, t.keys, sid, { fence: a })
    const authB = await useRedisAuthState(t.redis, t.keys, sid, { fence: b })
    await authB.state.keys.set({
      session: { '491511234567.0': new Uint8Array([2, 2]) },
      'pre-key': { '5': { public: new Uint8Array([5]), private: new Uint8Array([6]) } },
    })
    await authB.saveCreds()
    const before = await dump(sid)
    // A's in-flight decrypt: its ratchet state for the same contact, and the pre-key it consumed.
    await expect(
      authA.state.keys.set({ session: { '491511234567.0': new Uint8Array([1]) }, 'pre-key': { '5': null } }),
    ).rejects.toThrow(FenceRefusedError)
    await expect(authA.state.keys.clear!()).rejects.toThrow(FenceRefusedError)
    await expect(authA.wipe()).rejects.toThrow(FenceRefusedError)
    expect(await dump(sid)).toEqual(before)
    expect(await authB.state.keys.get('session', ['491511234567.0'])).toEqual({
      '491511234567.0': Buffer.from([2, 2]),
    })
    expect(a.refusals).toEqual(['keys-apply', 'auth-delete', 'auth-delete'])
    // The successor's own wipe (a logout) still works.
    expect(await authB.wipe()).toBe(3)
  })

  it('inbox ingest: the deposed holder’s event changes nothing and no listener hears of it', async () => {
    const { sid, a, b } = await deposed()
    const heard: string[] = []
    const off = t.ingestor.onApplied((e) => {
      heard.push(e.type)
    })
    try {
      const chat = pn(4711)
      await expect(t.ingestor.ingest(inbound(sid, chat, { id: 'M-A' }), { fence: a })).rejects.toThrow(
        FenceRefusedError,
      )
      expect(await t.store.getChat(sid, chat)).toBeNull()
      expect(heard).toEqual([])
      expect(a.refusals).toEqual(['apply-message'])
      // Every other transition of a holder is fenced the same way (all share the scripts' prelude).
      await expect(
        t.ingestor.ingest({ type: 'chat.read', sessionId: sid, chatJid: chat, at: Date.now() }, { fence: a }),
      ).rejects.toThrow(FenceRefusedError)

      const applied = await t.ingestor.ingest(inbound(sid, chat, { id: 'M-B' }), { fence: b })
      expect(applied.ok).toBe(true)
      expect((await t.store.getChat(sid, chat))?.unanswered).toBe(1)
      expect(heard).toEqual(['message'])
      // Events that come from no holder (the API, jobs) are not fenced.
      await t.ingestor.ingest({ type: 'chat.noReplyNeeded', sessionId: sid, chatJid: chat, at: Date.now() })
      expect((await t.store.getChat(sid, chat))?.unanswered).toBe(0)
    } finally {
      off()
    }
  })

  it('a holder whose lease ran out with no successor still writes (nobody to overwrite)', async () => {
    const sid = `f-${randomBytes(3).toString('hex')}`
    const epoch = await leases.acquire(sid, 'A', 60_000)
    await t.redis.pexpire(`${t.keys.session(sid)}lease`, 1)
    await expect.poll(() => leases.holderOf(sid)).toBeNull()
    await statuses.set(sid, 'STOPPED', { holder: 'A', detail: 'lease not renewed in time' }, { epoch })
    expect((await statuses.get(sid)).status).toBe('STOPPED')
    // Taking the session again is a new holding (a new epoch); renewing a live lease keeps its epoch.
    expect(await leases.acquire(sid, 'A', 60_000)).toBe(epoch + 1)
    expect(await leases.acquire(sid, 'A', 60_000)).toBe(epoch + 1)
  })
})

describe('cost: one round trip per fenced write', () => {
  it('status, creds, a key transaction and an inbox event are each one script call', async () => {
    const { sid, b } = await deposed()
    const auth = await useRedisAuthState(t.redis, t.keys, sid, { fence: b })
    // Warm up: the first call of each script on a connection may need Redis to load it.
    await statuses.set(sid, 'STARTING', {}, b)
    await auth.saveCreds()
    await auth.state.keys.set({ session: { w: new Uint8Array([0]) } })
    await t.ingestor.ingest(inbound(sid, pn(1)), { fence: b })

    expect(await commandsDuring(t.redis, () => statuses.set(sid, 'WORKING', {}, b))).toEqual(['evalsha'])
    expect(await commandsDuring(t.redis, () => auth.saveCreds())).toEqual(['evalsha'])
    expect(
      await commandsDuring(t.redis, () =>
        auth.state.keys.set({ session: { x: new Uint8Array([1]) }, 'pre-key': { '1': null } }),
      ),
    ).toEqual(['evalsha'])
    expect(await commandsDuring(t.redis, () => t.ingestor.ingest(inbound(sid, pn(2)), { fence: b }))).toEqual(
      ['evalsha'],
    )
  })
})

describe('a fence already refused', () => {
  it('is refused again without a round trip (epochs only grow)', async () => {
    const { sid, a } = await deposed()
    const auth = await useRedisAuthState(t.redis, t.keys, sid, { fence: { ...a, refused: true } })
    const sent = await commandsDuring(t.redis, async () => {
      await expect(auth.state.keys.set({ session: { x: new Uint8Array([1]) } })).rejects.toThrow(
        FenceRefusedError,
      )
    })
    expect(sent).toEqual([])
    expect(a.refusals).toEqual(['keys-apply'])
  })
})

async function dump(sid: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const key of authKeys(t.keys, sid).all()) {
    const type = await t.redis.type(key)
    if (type === 'hash') out[key] = await t.redis.hgetall(key)
    else if (type === 'string') out[key] = await t.redis.get(key)
  }
  return out
}
