import { randomBytes } from 'node:crypto'
import {
  type AuthenticationCreds,
  addTransactionCapability,
  Curve,
  initAuthCreds,
  type KeyPair,
  proto,
  type SignalDataSet,
  type SignalDataTypeMap,
} from '@whiskeysockets/baileys'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import {
  authKeys,
  cachedKeys,
  SIGNAL_KEY_TYPES,
  type SignalKeyType,
  useRedisAuthState,
} from '../../src/whatsapp/baileys/auth-state.js'
import { dumpPrefix, REDIS_URL, testRedis } from '../helpers/redis.js'

const t = testRedis('auth-state')
const extra: Redis[] = []
const newConnection = () => {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  extra.push(r)
  return r
}
afterEach(() => vi.restoreAllMocks())
afterAll(async () => {
  for (const r of extra) r.disconnect()
  await t.cleanup()
})

/**
 * Counts the scripts run on a connection from now on: each key transaction is one fenced script, one
 * round trip (EVALSHA; ioredis re-sends it as EVAL only after Redis lost its script cache).
 */
function scriptRuns(redis: Redis): { count: () => number } {
  const send = vi.spyOn(redis, 'sendCommand')
  return {
    count: () => send.mock.calls.filter(([c]) => c.name === 'evalsha' || c.name === 'eval').length,
  }
}

let n = 0
const sid = () => `s${++n}-${randomBytes(3).toString('hex')}`
const silent = pino({ level: 'silent' })

const bytes = (x: Uint8Array | Buffer | null | undefined) => Buffer.from(x ?? [])

/** Bytes come back as Buffers (a Uint8Array subclass, what BufferJSON revives): compare content, not class. */
function asBuffers(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x)
  if (Array.isArray(x)) return x.map(asBuffers)
  if (x && typeof x === 'object')
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, asBuffers(v)]))
  return x
}

/** One realistic value of every key type, as Baileys stores them. */
function sampleData(): { [T in SignalKeyType]: { [id: string]: SignalDataTypeMap[T] } } {
  return {
    'pre-key': { '1': Curve.generateKeyPair(), '2': Curve.generateKeyPair() },
    session: { '491511234567.0': new Uint8Array(randomBytes(200)) },
    'sender-key': { '120363000000000001@g.us::491511234567::0': new Uint8Array(randomBytes(120)) },
    'sender-key-memory': { '120363000000000001@g.us': { '491511234567:3@s.whatsapp.net': true } },
    'app-state-sync-key': {
      AAAAAKqK: proto.Message.AppStateSyncKeyData.fromObject({
        keyData: randomBytes(32),
        fingerprint: { rawId: 2_123_456_789, currentIndex: 3, deviceIndexes: [0, 3, 7] },
        timestamp: 1_717_000_000_000,
      }),
    },
    'app-state-sync-version': {
      regular_high: {
        version: 42,
        hash: randomBytes(128),
        indexValueMap: { 'Zm9vYmFy+/==': { valueMac: randomBytes(32) } },
      },
    },
    'lid-mapping': { '491511234567': '201234567890123', '201234567890123_reverse': '491511234567' },
    'device-list': { '491511234567': ['0', '3', '21'] },
    tctoken: {
      '201234567890123@lid': {
        token: randomBytes(24),
        timestamp: '1717000000',
        senderTimestamp: 1_717_000_001,
      },
      __index: { token: Buffer.from(JSON.stringify(['201234567890123@lid'])) },
    },
    'identity-key': { '201234567890123@lid': new Uint8Array(randomBytes(33)) },
  }
}

describe('creds', () => {
  it('start from initAuthCreds and round-trip through a process restart with every Buffer intact', async () => {
    const id = sid()
    const first = await useRedisAuthState(t.redis, t.keys, id)
    expect(await first.hasCreds()).toBe(false)
    const creds = first.state.creds
    expect(Object.keys(creds).sort()).toEqual(Object.keys(initAuthCreds()).sort())
    // Baileys' generateRegistrationId (Utils/generics.js) takes the first of two random bytes & 16383:
    // 0..255, and 0 one time in 256.
    expect(Number.isInteger(creds.registrationId) && creds.registrationId >= 0).toBe(true)
    expect(creds.registrationId).toBeLessThanOrEqual(16383)
    expect(creds.noiseKey.private).toHaveLength(32)

    // What pairing adds (shapes as Baileys writes them through creds.update).
    Object.assign(creds, {
      me: { id: '491511234567:3@s.whatsapp.net', lid: '201234567890123:3@lid', name: 'Tick' },
      registered: true,
      platform: 'android',
      account: {
        details: randomBytes(40),
        accountSignatureKey: randomBytes(32),
        accountSignature: randomBytes(64),
        deviceSignature: randomBytes(64),
      },
      signalIdentities: [
        {
          identifier: { name: '491511234567:3@s.whatsapp.net', deviceId: 0 },
          identifierKey: Buffer.concat([Buffer.from([5]), randomBytes(32)]),
        },
      ],
      routingInfo: randomBytes(12),
      myAppStateKeyId: 'AAAAAKqK',
      nextPreKeyId: 31,
      firstUnuploadedPreKeyId: 31,
    } satisfies Partial<AuthenticationCreds>)
    await first.saveCreds()
    expect(await first.hasCreds()).toBe(true)

    const redis2 = newConnection()
    const second = await useRedisAuthState(redis2, t.keys, id)
    const back = second.state.creds
    expect(back).toEqual(creds)
    // Binary fields come back as bytes with the same content, not as JSON objects.
    const binary = (c: AuthenticationCreds) => [
      c.noiseKey.public,
      c.noiseKey.private,
      c.pairingEphemeralKeyPair.public,
      c.pairingEphemeralKeyPair.private,
      c.signedIdentityKey.public,
      c.signedIdentityKey.private,
      c.signedPreKey.keyPair.public,
      c.signedPreKey.keyPair.private,
      c.signedPreKey.signature,
      c.account?.details,
      c.account?.accountSignatureKey,
      c.account?.deviceSignature,
      c.signalIdentities?.[0]?.identifierKey,
      c.routingInfo,
    ]
    binary(back).forEach((b, i) => {
      expect(b).toBeInstanceOf(Uint8Array)
      expect(bytes(b).equals(bytes(binary(creds)[i]))).toBe(true)
    })
    expect(back.advSecretKey).toBe(creds.advSecretKey)
    expect(back.signedPreKey.keyId).toBe(creds.signedPreKey.keyId)
    expect(back.registered).toBe(true)
    expect(back.me?.id).toBe('491511234567:3@s.whatsapp.net')
    expect(await second.hasCreds()).toBe(true)
  })

  it('an untouched session gets fresh creds and stores nothing until saveCreds', async () => {
    const id = sid()
    const a = await useRedisAuthState(t.redis, t.keys, id)
    const b = await useRedisAuthState(t.redis, t.keys, id)
    expect(bytes(a.state.creds.noiseKey.public).equals(bytes(b.state.creds.noiseKey.public))).toBe(false)
    expect(await t.redis.exists(...authKeys(t.keys, id).all())).toBe(0)
  })
})

describe('signal keys', () => {
  it('the key types are exactly those of Baileys SignalDataTypeMap', () => {
    expect([...SIGNAL_KEY_TYPES].sort()).toEqual(Object.keys(sampleData()).sort())
    expect(SIGNAL_KEY_TYPES).toHaveLength(10)
  })

  it('every key type round-trips through a new connection', async () => {
    const id = sid()
    const { state } = await useRedisAuthState(t.redis, t.keys, id)
    const data = sampleData()
    await state.keys.set(data as SignalDataSet)

    const { state: again } = await useRedisAuthState(newConnection(), t.keys, id)
    for (const type of SIGNAL_KEY_TYPES) {
      const ids = Object.keys(data[type])
      const got = await again.keys.get(type, [...ids, 'missing'])
      expect(Object.keys(got).sort(), type).toEqual(ids.sort())
      if (type !== 'app-state-sync-key') expect(got, type).toEqual(asBuffers(data[type]))
    }

    const preKey = (await again.keys.get('pre-key', ['1']))['1'] as KeyPair
    expect(bytes(preKey.private).equals(bytes(data['pre-key']['1']?.private))).toBe(true)
    expect(preKey.public).toBeInstanceOf(Uint8Array)
    const session = (await again.keys.get('session', ['491511234567.0']))['491511234567.0']
    expect(session).toBeInstanceOf(Uint8Array)
    expect(bytes(session).equals(bytes(data.session['491511234567.0']))).toBe(true)

    const sent = data['app-state-sync-key'].AAAAAKqK as proto.Message.AppStateSyncKeyData
    const key = (await again.keys.get('app-state-sync-key', ['AAAAAKqK'])).AAAAAKqK
    expect(key).toBeInstanceOf(proto.Message.AppStateSyncKeyData)
    expect(bytes(key?.keyData).equals(bytes(sent.keyData))).toBe(true)
    expect(key?.fingerprint).toBeInstanceOf(proto.Message.AppStateSyncKeyFingerprint)
    expect(key?.fingerprint?.rawId).toBe(2_123_456_789)
    expect(key?.fingerprint?.deviceIndexes).toEqual([0, 3, 7])
    expect(Number(key?.timestamp)).toBe(1_717_000_000_000)
    // Re-encodes to the same protobuf bytes Baileys would have sent.
    expect(
      Buffer.from(
        proto.Message.AppStateSyncKeyData.encode(key as proto.Message.AppStateSyncKeyData).finish(),
      ).equals(Buffer.from(proto.Message.AppStateSyncKeyData.encode(sent).finish())),
    ).toBe(true)

    const version = (await again.keys.get('app-state-sync-version', ['regular_high'])).regular_high
    expect(version?.version).toBe(42)
    expect(Buffer.isBuffer(version?.hash)).toBe(true)
    expect(Buffer.isBuffer(version?.indexValueMap['Zm9vYmFy+/==']?.valueMac)).toBe(true)
  })

  it('get with no ids reads nothing; unknown types are refused', async () => {
    const { state } = await useRedisAuthState(t.redis, t.keys, sid())
    const hmget = vi.spyOn(t.redis, 'hmget')
    expect(await state.keys.get('session', [])).toEqual({})
    expect(hmget).not.toHaveBeenCalled()
    await expect(state.keys.get('nope' as SignalKeyType, ['x'])).rejects.toThrow(
      /unknown Baileys signal key type/,
    )
    await expect(state.keys.set({ nope: { x: 'y' } } as SignalDataSet)).rejects.toThrow(/unknown/)
  })

  it('reads 50 ids of a type with one HMGET and omits the missing ones', async () => {
    const id = sid()
    const { state } = await useRedisAuthState(t.redis, t.keys, id)
    const present: Record<string, KeyPair> = {}
    for (let i = 0; i < 30; i++) present[String(100 + i)] = Curve.generateKeyPair()
    await state.keys.set({ 'pre-key': present })

    const ids = Array.from({ length: 50 }, (_, i) => String(100 + i))
    const hmget = vi.spyOn(t.redis, 'hmget')
    const got = await state.keys.get('pre-key', ids)
    expect(hmget).toHaveBeenCalledTimes(1)
    expect(hmget.mock.calls[0]?.[0]).toBe(authKeys(t.keys, id).key('pre-key'))
    expect(Object.keys(got).sort()).toEqual(Object.keys(present).sort())
    expect('145' in got).toBe(false)
    expect(got).toEqual(present)
  })
})

describe('transactions', () => {
  it('a set mixing writes and deletes across types is one script with the right final state', async () => {
    const id = sid()
    const { state } = await useRedisAuthState(t.redis, t.keys, id)
    const k1 = Curve.generateKeyPair()
    const k2 = Curve.generateKeyPair()
    const k3 = Curve.generateKeyPair()
    const multi = scriptRuns(t.redis)
    await state.keys.set({
      'pre-key': { '1': k1, '2': k2, '3': k3 },
      session: { 'a.0': new Uint8Array([1]), 'b.0': new Uint8Array([2]) },
      'lid-mapping': { '491511234567': '201234567890123' },
    })
    expect(multi.count()).toBe(1)

    const k4 = Curve.generateKeyPair()
    await state.keys.set({
      'pre-key': { '1': null, '3': null, '4': k4 },
      session: { 'a.0': null, 'b.0': new Uint8Array([9, 9]), 'c.0': new Uint8Array([3]) },
      'lid-mapping': { '491511234567': null },
      'device-list': { '491511234567': ['0', '5'] },
    })
    expect(multi.count()).toBe(2)

    expect(await state.keys.get('pre-key', ['1', '2', '3', '4'])).toEqual({ '2': k2, '4': k4 })
    expect(await state.keys.get('session', ['a.0', 'b.0', 'c.0'])).toEqual({
      'b.0': Buffer.from([9, 9]),
      'c.0': Buffer.from([3]),
    })
    expect(await state.keys.get('lid-mapping', ['491511234567'])).toEqual({})
    // A hash emptied by deletes disappears; no empty keys are left behind.
    expect(await t.redis.exists(authKeys(t.keys, id).key('lid-mapping'))).toBe(0)
    expect(await state.keys.get('device-list', ['491511234567'])).toEqual({ '491511234567': ['0', '5'] })

    // A set with nothing in it does not talk to Redis.
    await state.keys.set({ session: {} })
    expect(multi.count()).toBe(2)
  })

  it('a concurrent reader sees each transaction entirely or not at all', async () => {
    const id = sid()
    const { state } = await useRedisAuthState(t.redis, t.keys, id)
    const ak = authKeys(t.keys, id)
    const gen = (g: number) => new Uint8Array([g & 0xff, g >> 8])
    await state.keys.set({ session: { s: gen(0) }, 'pre-key': { p0: Curve.generateKeyPair() } })

    const reader = newConnection()
    let stop = false
    let reads = 0
    const torn: string[] = []
    const readLoop = (async () => {
      while (!stop) {
        const res = await reader.multi().hget(ak.key('session'), 's').hkeys(ak.key('pre-key')).exec()
        const sess = JSON.parse(res?.[0]?.[1] as string).data as string
        const g = Buffer.from(sess, 'base64').readUInt16LE(0)
        const preKeys = res?.[1]?.[1] as string[]
        if (preKeys.length !== 1 || preKeys[0] !== `p${g}`) torn.push(`${g}:${preKeys.join(',')}`)
        reads++
      }
    })()
    const multi = scriptRuns(t.redis)
    const rounds = 300
    for (let g = 1; g <= rounds; g++) {
      // Delete the previous generation's pre-key, write the next one and bump the session.
      await state.keys.set({
        'pre-key': { [`p${g - 1}`]: null, [`p${g}`]: Curve.generateKeyPair() },
        session: { s: gen(g) },
      })
    }
    stop = true
    await readLoop
    expect(reads).toBeGreaterThan(10)
    expect(torn).toEqual([])
    expect(multi.count()).toBe(rounds)
  })

  it("Baileys' own transaction wrapper commits a whole transaction with one script", async () => {
    const id = sid()
    const { state } = await useRedisAuthState(t.redis, t.keys, id)
    await state.keys.set({ session: { 'old.0': new Uint8Array([1]) } })
    const tx = addTransactionCapability(state.keys, silent, { maxCommitRetries: 2, delayBetweenTriesMs: 10 })
    const multi = scriptRuns(t.redis)
    await tx.transaction(async () => {
      await tx.set({ session: { 'new.0': new Uint8Array([2]) } })
      await tx.set({ session: { 'old.0': null }, 'identity-key': { 'x@lid': new Uint8Array([5]) } })
      await tx.set({ 'sender-key-memory': { 'g@g.us': { 'x@lid': true } } })
    }, 'test')
    expect(multi.count()).toBe(1)
    expect(await state.keys.get('session', ['old.0', 'new.0'])).toEqual({ 'new.0': Buffer.from([2]) })
    expect(await state.keys.get('sender-key-memory', ['g@g.us'])).toEqual({ 'g@g.us': { 'x@lid': true } })
  })

  it('cachedKeys wraps the store with Baileys cache and still persists', async () => {
    const id = sid()
    const raw = await useRedisAuthState(t.redis, t.keys, id)
    const cached = cachedKeys(raw.state, silent)
    expect(cached.creds).toBe(raw.state.creds)
    await cached.keys.set({ 'lid-mapping': { '491511234567': '201234567890123' } })
    expect(await raw.state.keys.get('lid-mapping', ['491511234567'])).toEqual({
      '491511234567': '201234567890123',
    })
    const hmget = vi.spyOn(t.redis, 'hmget')
    expect(await cached.keys.get('lid-mapping', ['491511234567'])).toEqual({
      '491511234567': '201234567890123',
    })
    expect(hmget).not.toHaveBeenCalled()
  })
})

describe('wipe and TTLs', () => {
  async function populated(id: string) {
    const auth = await useRedisAuthState(t.redis, t.keys, id)
    await auth.saveCreds()
    await auth.state.keys.set(sampleData() as SignalDataSet)
    return auth
  }

  it('wipe removes exactly this session auth keys and nothing else', async () => {
    const a = sid()
    const b = sid()
    const authA = await populated(a)
    await populated(b)
    // Non-auth keys of session A (inbox state) that must survive.
    await t.redis.hset(t.keys.chat(a, '491511234567@s.whatsapp.net'), 'unread', '2')
    await t.redis.set(t.keys.sessionStatus(a), 'WORKING')
    await t.redis.zadd(t.keys.chatsIndex(a), 1, '491511234567@s.whatsapp.net')

    const before = await dumpPrefix(t.redis, t.prefix)
    const authOfA = authKeys(t.keys, a).all()
    expect(authOfA).toHaveLength(11)
    for (const key of authOfA) expect(before).toHaveProperty([key])

    expect(await authA.wipe()).toBe(11)

    const after = await dumpPrefix(t.redis, t.prefix)
    const expected = { ...before }
    for (const key of authOfA) delete expected[key]
    expect(after).toEqual(expected)
    const gone = Object.keys(before).filter((key) => !(key in after))
    expect(gone.sort()).toEqual([...authOfA].sort())
    expect(gone.every((key) => key.startsWith(`${t.keys.session(a)}auth:`))).toBe(true)
    for (const key of authKeys(t.keys, b).all()) expect(after).toHaveProperty([key])

    expect(await authA.hasCreds()).toBe(false)
    expect(await authA.wipe()).toBe(0)
    // After a wipe the session starts over with new creds (re-pair).
    const fresh = await useRedisAuthState(t.redis, t.keys, a)
    expect(fresh.state.creds.registered).toBe(false)
    expect(await fresh.state.keys.get('session', ['491511234567.0'])).toEqual({})
  })

  it('every auth key lives in the session hash tag and has no TTL', async () => {
    const id = sid()
    await populated(id)
    for (const key of authKeys(t.keys, id).all()) {
      expect(key.startsWith(`${t.prefix}:{${id}}:auth:`)).toBe(true)
      expect(await t.redis.pttl(key), key).toBe(-1)
    }
  })
})
