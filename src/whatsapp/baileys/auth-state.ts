import {
  type AuthenticationCreds,
  type AuthenticationState,
  BufferJSON,
  initAuthCreds,
  makeCacheableSignalKeyStore,
  proto,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys'
import type { Redis } from 'ioredis'
import type { Fence } from '../../fence/fence.js'
import { FencedWrites } from '../../fence/scripts.js'
import type { Keys } from '../../keys.js'
import { AuthCipher, type AuthSlot } from './auth-cipher.js'

/**
 * Durable Baileys auth state in Redis.
 *
 * Layout (all under the session's hash tag, so one Redis Cluster slot per session):
 * - `<prefix>:{sid}:auth:creds`: a string, the creds as `BufferJSON` JSON;
 * - `<prefix>:{sid}:auth:key:<type>`: one hash per signal key type, field = key id, value = `BufferJSON`
 *   JSON. A batched read is one HMGET per type, and a wipe deletes a known set of 11 keys.
 *
 * With WA_AUTH_KEYS set, every value is AES-256-GCM encrypted (auth-cipher.ts); plaintext values written
 * before are read as they are. docs/security-redis.md says what Redis access means and how to rotate.
 *
 * No key has a TTL: losing any of them (e.g. `app-state-sync-key`, sessions, pre-keys) breaks the
 * session or forces a re-pair. For the same reason production Redis holding auth must persist with
 * AOF (`appendonly yes`, `appendfsync everysec` or stricter) and use `maxmemory-policy noeviction`.
 */

/**
 * Every key type of Baileys' `SignalDataTypeMap`. `satisfies` makes tsc fail when a Baileys upgrade adds
 * or removes a type, so `wipe()` can never miss a hash.
 */
const KEY_TYPE_SET = {
  'pre-key': true,
  session: true,
  'sender-key': true,
  'sender-key-memory': true,
  'app-state-sync-key': true,
  'app-state-sync-version': true,
  'lid-mapping': true,
  'device-list': true,
  tctoken: true,
  'identity-key': true,
} as const satisfies Record<keyof SignalDataTypeMap, true>

export type SignalKeyType = keyof SignalDataTypeMap

export const SIGNAL_KEY_TYPES = Object.freeze(Object.keys(KEY_TYPE_SET) as SignalKeyType[])

function isKeyType(type: string): type is SignalKeyType {
  return Object.hasOwn(KEY_TYPE_SET, type)
}

/** The Redis keys holding one session's auth state. */
export function authKeys(keys: Keys, sessionId: string) {
  const base = `${keys.session(sessionId)}auth:`
  const key = (type: SignalKeyType): string => `${base}key:${type}`
  return {
    creds: `${base}creds`,
    key,
    /** Every auth key of the session: creds first, then one hash per key type. */
    all: (): string[] => [`${base}creds`, ...SIGNAL_KEY_TYPES.map(key)],
  }
}

export interface RedisAuthState {
  /** Pass to `makeWASocket({ auth })` (optionally through `cachedKeys`). */
  state: AuthenticationState
  /** Writes `state.creds`; call on every `creds.update`. */
  saveCreds: () => Promise<void>
  /**
   * Deletes this session's creds and every key hash (logout, 401), nothing else; returns the number of
   * Redis keys deleted. The in-memory `state` is stale afterwards: load a fresh one to re-pair.
   */
  wipe: () => Promise<number>
  /** Whether creds are stored for the session (they are saved on the first `creds.update`). */
  hasCreds: () => Promise<boolean>
}

/** Baileys' `ILogger` (not re-exported from the package root); a pino logger fits. */
export type BaileysLogger = NonNullable<Parameters<typeof makeCacheableSignalKeyStore>[1]>

const serialise = (value: unknown): string => JSON.stringify(value, BufferJSON.replacer)
const deserialise = (raw: string): unknown => JSON.parse(raw, BufferJSON.reviver)

/** A stored auth value's plain text as Baileys' BufferJSON reads it (for the re-encrypt command). */
export const authValueCodec = { serialise, deserialise }

function assertKeyType(type: string): asserts type is SignalKeyType {
  if (!isKeyType(type)) throw new Error(`unknown Baileys signal key type: ${type}`)
}

/**
 * `fence`: the lease epoch of the session's holder. Every write (creds, a key transaction, a wipe) is then
 * applied only while that epoch is current, checked in the same script (FenceRefusedError otherwise): a
 * holder that stalled past its lease cannot write its stale Signal state over its successor's.
 */
export async function useRedisAuthState(
  redis: Redis,
  keys: Keys,
  sessionId: string,
  opts: {
    /** The holder's lease epoch: writes are refused once a newer holder took the session. */
    fence?: Fence
    /** Encrypts what is written, decrypts what is read; without a keyring values are stored as they are. */
    cipher?: AuthCipher
  } = {},
): Promise<RedisAuthState> {
  const k = authKeys(keys, sessionId)
  const cipher = opts.cipher ?? new AuthCipher(undefined)
  const credsSlot: AuthSlot = { sessionId, type: 'creds', field: '' }
  const slot = (type: SignalKeyType, field: string): AuthSlot => ({ sessionId, type, field })
  const writes = new FencedWrites(redis, keys)
  const write = (name: 'creds-set' | 'auth-delete', keyList: string[], args: string[] = []) =>
    writes.run(name, sessionId, opts.fence, keyList, args)

  const stored = await redis.get(k.creds)
  const creds: AuthenticationCreds =
    stored === null ? initAuthCreds() : (deserialise(cipher.open(stored, credsSlot)) as AuthenticationCreds)

  const store: SignalKeyStore = {
    async get<T extends SignalKeyType>(
      type: T,
      ids: string[],
    ): Promise<{ [id: string]: SignalDataTypeMap[T] }> {
      assertKeyType(type)
      const out: { [id: string]: SignalDataTypeMap[T] } = {}
      if (ids.length === 0) return out
      const values = await redis.hmget(k.key(type), ...ids)
      ids.forEach((id, i) => {
        const raw = values[i]
        if (raw === null || raw === undefined) return
        let value = deserialise(cipher.open(raw, slot(type, id)))
        if (type === 'app-state-sync-key') {
          value = proto.Message.AppStateSyncKeyData.fromObject(value as Record<string, unknown>)
        }
        out[id] = value as SignalDataTypeMap[T]
      })
      return out
    },

    /** Applies the whole transaction (every type, writes and deletes) in one fenced script. */
    async set(data: SignalDataSet): Promise<void> {
      const ops: { key: string; writes: string[]; deletes: string[] }[] = []
      for (const type of Object.keys(data)) {
        assertKeyType(type)
        const entries = data[type]
        if (!entries) continue
        const op = { key: k.key(type), writes: [] as string[], deletes: [] as string[] }
        for (const [id, value] of Object.entries(entries)) {
          if (value === null || value === undefined) op.deletes.push(id)
          else op.writes.push(id, cipher.seal(serialise(value), slot(type, id)))
        }
        if (op.writes.length || op.deletes.length) ops.push(op)
      }
      if (ops.length === 0) return
      await writes.run(
        'keys-apply',
        sessionId,
        opts.fence,
        ops.map((op) => op.key),
        ops.flatMap((op) => [op.writes.length / 2, op.deletes.length, ...op.writes, ...op.deletes]),
      )
    },

    /** Deletes every signal key of the session (not the creds). */
    async clear(): Promise<void> {
      await write('auth-delete', SIGNAL_KEY_TYPES.map(k.key))
    },
  }

  const state: AuthenticationState = { creds, keys: store }

  return {
    state,
    saveCreds: async () => {
      await write('creds-set', [k.creds], [cipher.seal(serialise(state.creds), credsSlot)])
    },
    wipe: async () => Number(await write('auth-delete', k.all())),
    hasCreds: async () => (await redis.exists(k.creds)) === 1,
  }
}

/**
 * The same state with Baileys' in-memory cache (5 min TTL) in front of the key store. The creds object is
 * shared, so `saveCreds` still sees Baileys' updates. Use one per socket; after `wipe()` start afresh.
 */
export function cachedKeys(state: AuthenticationState, logger?: BaileysLogger): AuthenticationState {
  return { creds: state.creds, keys: makeCacheableSignalKeyStore(state.keys, logger) }
}
