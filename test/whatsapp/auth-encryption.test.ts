import { randomBytes } from 'node:crypto'
import { Curve, proto, type SignalDataSet } from '@whiskeysockets/baileys'
import { afterAll, describe, expect, it } from 'vitest'
import { type EnvError, parseEnv } from '../../src/env.js'
import { createLogger } from '../../src/log.js'
import { AuthCipher, AuthDecryptError, parseAuthKeys } from '../../src/whatsapp/baileys/auth-cipher.js'
import { reEncryptAuth } from '../../src/whatsapp/baileys/auth-re-encrypt.js'
import { authKeys, useRedisAuthState } from '../../src/whatsapp/baileys/auth-state.js'
import { spawnTs } from '../helpers/process.js'
import { REDIS_URL, testRedis } from '../helpers/redis.js'

/**
 * Encryption at rest of WhatsApp auth (WA_AUTH_KEYS): what lies in Redis is not the creds, what is read
 * back is, old keys stay readable until `tickbridge auth re-encrypt` moves everything to the current one,
 * and a wrong or missing key is a clear error, never garbage handed to Baileys.
 */

const t = testRedis('auth-encryption')
/** Prefixes of their own: re-encrypt walks every session under a prefix. */
const rot = testRedis('auth-rotation')
const cli = testRedis('auth-cli')
afterAll(async () => {
  for (const r of [t, rot, cli]) await r.cleanup()
})
type R = typeof t

const b64 = () => randomBytes(32).toString('base64')
const K1 = b64()
const K2 = b64()
const ring = (text: string) => {
  const parsed = parseAuthKeys(text)
  if (!parsed.ok) throw new Error(parsed.problem)
  return new AuthCipher(parsed.keyring)
}
const PLAIN = new AuthCipher(undefined)

let n = 0
const sid = () => `enc${++n}-${randomBytes(3).toString('hex')}`

/** A session's auth as Baileys leaves it after pairing: creds plus keys of several types. */
async function pairedSession(sessionId: string, cipher: AuthCipher, r: R = t) {
  const auth = await useRedisAuthState(r.redis, r.keys, sessionId, { cipher })
  auth.state.creds.me = {
    id: '4915112345678:7@s.whatsapp.net',
    lid: '123456789012345:7@lid',
    name: 'Acme Sales',
  }
  await auth.saveCreds()
  const preKey = Curve.generateKeyPair()
  const data: SignalDataSet = {
    'pre-key': { '1': preKey, '2': Curve.generateKeyPair() },
    session: { '4915112345678.0': randomBytes(64) },
    'app-state-sync-key': {
      AAAAAQ: proto.Message.AppStateSyncKeyData.fromObject({ keyData: randomBytes(32), timestamp: 1 }),
    },
    'lid-mapping': { '4915112345678': '123456789012345' },
  }
  await auth.state.keys.set(data)
  return { auth, preKey, data }
}

async function storedValues(sessionId: string, r: R = t): Promise<string[]> {
  const k = authKeys(r.keys, sessionId)
  const values: string[] = []
  const creds = await r.redis.get(k.creds)
  if (creds !== null) values.push(creds)
  for (const key of k.all().slice(1)) values.push(...Object.values(await r.redis.hgetall(key)))
  return values
}

describe('encryption at rest of WhatsApp auth', () => {
  it('stores neither the creds JSON nor any key material in clear', async () => {
    const s = sid()
    const { auth, preKey } = await pairedSession(s, ring(`k1:${K1}`))
    const values = await storedValues(s)
    expect(values).toHaveLength(6)
    const secrets = [
      auth.state.creds.noiseKey.private,
      auth.state.creds.signedIdentityKey.private,
      preKey.private,
    ].map((b) => Buffer.from(b).toString('base64'))
    for (const v of values) {
      expect(v).toMatch(/^tbenc1:k1:/)
      for (const word of [
        'noiseKey',
        'signedIdentityKey',
        'registrationId',
        '4915112345678',
        'Acme',
        'Buffer',
      ])
        expect(v).not.toContain(word)
      for (const secret of secrets) expect(v).not.toContain(secret)
    }
  })

  it('reads back exactly what was written (creds and every key type)', async () => {
    const s = sid()
    const cipher = ring(`k1:${K1}`)
    const { auth, data } = await pairedSession(s, cipher)
    const again = await useRedisAuthState(t.redis, t.keys, s, { cipher })
    expect(again.state.creds).toEqual(auth.state.creds)
    expect(await again.state.keys.get('pre-key', ['1', '2'])).toEqual(data['pre-key'])
    expect(await again.state.keys.get('session', ['4915112345678.0'])).toEqual(data.session)
    expect(await again.state.keys.get('lid-mapping', ['4915112345678'])).toEqual(data['lid-mapping'])
    const syncKey = (await again.state.keys.get('app-state-sync-key', ['AAAAAQ'])).AAAAAQ
    expect(syncKey).toBeInstanceOf(proto.Message.AppStateSyncKeyData)
    expect(syncKey?.keyData).toEqual(data['app-state-sync-key']!.AAAAAQ!.keyData)
    // A null still deletes, in the same MULTI as the writes.
    await again.state.keys.set({ 'pre-key': { '1': null, '3': Curve.generateKeyPair() } })
    expect(Object.keys(await again.state.keys.get('pre-key', ['1', '2', '3'])).sort()).toEqual(['2', '3'])
  })

  it('reads plaintext values stored before encryption was on, and encrypts what it writes next', async () => {
    const s = sid()
    const { auth } = await pairedSession(s, PLAIN)
    expect((await storedValues(s)).every((v) => v.startsWith('{') || v.startsWith('"'))).toBe(true)
    const encrypted = await useRedisAuthState(t.redis, t.keys, s, { cipher: ring(`k1:${K1}`) })
    expect(encrypted.state.creds).toEqual(auth.state.creds)
    await encrypted.saveCreds()
    expect(await t.redis.get(authKeys(t.keys, s).creds)).toMatch(/^tbenc1:k1:/)
  })

  it('rotates: old-key values stay readable; re-encrypt moves every value to the new key, idempotently', async () => {
    const a = sid()
    const b = sid()
    const legacy = sid()
    const { auth } = await pairedSession(a, ring(`k1:${K1}`), rot)
    await pairedSession(b, ring(`k1:${K1}`), rot)
    await pairedSession(legacy, PLAIN, rot)
    const rotated = ring(`k2:${K2},k1:${K1}`)
    expect((await useRedisAuthState(rot.redis, rot.keys, a, { cipher: rotated })).state.creds).toEqual(
      auth.state.creds,
    )

    const lines: string[] = []
    const first = await reEncryptAuth({
      redis: rot.redis,
      keys: rot.keys,
      cipher: rotated,
      out: (l) => lines.push(l),
    })
    expect(first).toEqual({ sessions: 3, reEncrypted: 18, alreadyCurrent: 0, changedMeanwhile: 0 })
    expect(lines[0]).toBe('3 session(s) with stored auth; current key "k2"')
    expect(lines.slice(1)).toEqual(
      [a, b, legacy].sort().map((s, i) => `[${i + 1}/3] ${s}: 6 re-encrypted, 0 already under "k2"`),
    )
    for (const s of [a, b, legacy])
      for (const v of await storedValues(s, rot)) expect(v).toMatch(/^tbenc1:k2:/)
    // k1 can be dropped now.
    const onlyK2 = ring(`k2:${K2}`)
    expect((await useRedisAuthState(rot.redis, rot.keys, a, { cipher: onlyK2 })).state.creds).toEqual(
      auth.state.creds,
    )

    const second = await reEncryptAuth({ redis: rot.redis, keys: rot.keys, cipher: onlyK2, out: () => {} })
    expect(second).toEqual({ sessions: 3, reEncrypted: 0, alreadyCurrent: 18, changedMeanwhile: 0 })
  })

  it('resumes: a run over a half-rotated store re-encrypts only what is not under the current key', async () => {
    const r = testRedis('auth-resume')
    try {
      const done = sid()
      const left = sid()
      await pairedSession(done, ring(`k2:${K2}`), r)
      await pairedSession(left, ring(`k1:${K1}`), r)
      const lines: string[] = []
      const totals = await reEncryptAuth({
        redis: r.redis,
        keys: r.keys,
        cipher: ring(`k2:${K2},k1:${K1}`),
        out: (l) => lines.push(l),
      })
      expect(totals).toEqual({ sessions: 2, reEncrypted: 6, alreadyCurrent: 6, changedMeanwhile: 0 })
      expect(lines).toContain(
        `[${[done, left].sort().indexOf(done) + 1}/2] ${done}: 0 re-encrypted, 6 already under "k2"`,
      )
      for (const v of await storedValues(left, r)) expect(v).toMatch(/^tbenc1:k2:/)
    } finally {
      await r.cleanup()
    }
  })

  it('leaves a value a live worker rewrote meanwhile as it is, and says to run again', async () => {
    const r = testRedis('auth-race')
    try {
      const s = sid()
      await pairedSession(s, ring(`k1:${K1}`), r)
      const preKeys = authKeys(r.keys, s).key('pre-key')
      const k2 = ring(`k2:${K2},k1:${K1}`)
      const rewritten = k2.seal('{"worker":"wrote this"}', { sessionId: s, type: 'pre-key', field: '1' })
      // A worker's write lands between the command's read of the pre-keys and its swap.
      let raced = false
      const racing = new Proxy(r.redis, {
        get(target, prop) {
          if (prop === 'hscan') {
            return async (...args: Parameters<typeof target.hscan>) => {
              const page = await target.hscan(...args)
              if (args[0] === preKeys && !raced) {
                raced = true
                await target.hset(preKeys, '1', rewritten)
              }
              return page
            }
          }
          const value = Reflect.get(target, prop, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      const totals = await reEncryptAuth({ redis: racing, keys: r.keys, cipher: k2, out: () => {} })
      expect(raced).toBe(true)
      expect(totals).toEqual({ sessions: 1, reEncrypted: 5, alreadyCurrent: 0, changedMeanwhile: 1 })
      expect(await r.redis.hget(preKeys, '1')).toBe(rewritten)
    } finally {
      await r.cleanup()
    }
  })

  it('a wrong, unknown or missing key is a clear error, never garbage', async () => {
    const s = sid()
    await pairedSession(s, ring(`k1:${K1}`))
    const open = (cipher: AuthCipher) => useRedisAuthState(t.redis, t.keys, s, { cipher })
    await expect(open(ring(`k1:${b64()}`))).rejects.toThrow(
      new AuthDecryptError(
        `session ${s}: stored creds does not decrypt with key "k1" (a different key under the same id, or the value was altered)`,
      ),
    )
    await expect(open(ring(`k3:${K2}`))).rejects.toThrow(
      `session ${s}: stored creds is encrypted with key "k1", which WA_AUTH_KEYS does not hold (it holds k3)`,
    )
    await expect(open(PLAIN)).rejects.toThrow(
      `session ${s}: stored creds is encrypted with key "k1", but WA_AUTH_KEYS is not set`,
    )
    const auth = await open(ring(`k1:${K1}`))
    const preKeys = authKeys(t.keys, s).key('pre-key')
    await t.redis.hset(preKeys, '9', (await t.redis.hget(preKeys, '1'))!)
    // A value copied to another field's place (or another session's) does not decrypt there.
    await expect(auth.state.keys.get('pre-key', ['9'])).rejects.toThrow(
      `session ${s}: stored pre-key key "9" does not decrypt with key "k1"`,
    )
  })

  it('WA_AUTH_KEYS: a bad key is refused with a precise message, and no key reaches a log', () => {
    const short = randomBytes(16).toString('base64')
    const problems = (value: string) => {
      try {
        parseEnv({ WA_AUTH_KEYS: value })
        return []
      } catch (e) {
        return (e as EnvError).problems
      }
    }
    expect(problems(`k1:${short}`)).toEqual([
      'WA_AUTH_KEYS: key "k1": 16 bytes; AES-256 needs exactly 32 (make one with: openssl rand -base64 32)',
    ])
    expect(problems(`k2:${K2},k1`)).toEqual(['WA_AUTH_KEYS: entry 2: expected <key id>:<base64 key>'])
    expect(problems(`k1:${K1},k1:${K2}`)).toEqual(['WA_AUTH_KEYS: entry 2: key id "k1" is given twice'])
    expect(problems(`k1:not base64!`)).toEqual(['WA_AUTH_KEYS: key "k1": not base64'])
    expect(problems(`k1:${short}`).join()).not.toContain(short)

    const env = parseEnv({ WA_AUTH_KEYS: `k2:${K2},k1:${K1}` })
    const lines: string[] = []
    const log = createLogger({ level: 'info' }, { write: (l: string) => void lines.push(l) })
    log.info({ env }, 'start')
    log.info({ keys: env.WA_AUTH_KEYS }, 'keys')
    const text = `${lines.join('')}${JSON.stringify(env)}${String(env.WA_AUTH_KEYS)}`
    expect(text).toContain('[keyring k2,k1]')
    for (const key of [K1, K2]) {
      expect(text).not.toContain(key)
      expect(text).not.toContain(Buffer.from(key, 'base64').toString('hex'))
    }
  })

  it('`tickbridge auth re-encrypt` does it from the command line, with progress, and says when there is no key', async () => {
    const s = sid()
    await pairedSession(s, PLAIN, cli)
    const env = { REDIS_URL, TICKBRIDGE_PREFIX: cli.prefix, WA_AUTH_KEYS: `k7:${K1}` }
    const run = spawnTs('src/cli/tickbridge.ts', ['auth', 're-encrypt'], env)
    expect(await run.exited).toBe(0)
    expect(run.stdout).toContain('done: 1 session(s), 6 value(s) re-encrypted, 0 already current')
    expect(run.stdout.some((l) => l.includes(`${s}: 6 re-encrypted, 0 already under "k7"`))).toBe(true)
    for (const v of await storedValues(s, cli)) expect(v).toMatch(/^tbenc1:k7:/)

    const none = spawnTs('src/cli/tickbridge.ts', ['auth', 're-encrypt'], {
      REDIS_URL,
      TICKBRIDGE_PREFIX: cli.prefix,
    })
    expect(await none.exited).toBe(2)
    expect(none.stderr.join('\n')).toContain('WA_AUTH_KEYS is not set: there is no key to encrypt with')
  }, 90_000) // two CLI processes, each starting tsx: slow on a loaded machine
})
